"""Rebuild the bundled price snapshot from the price table inside a ``litellm`` wheel.

Run from the workspace root (PyPI must be reachable unless ``--wheel`` is given)::

    uv run python packages/ccproxy-plugin-pricing/scripts/update_snapshot.py --version 1.110.2

It downloads ``litellm==<version>`` with ``pip download --no-deps`` into a temporary folder
(without ``--version``: the latest release), opens the wheel as a zip, reads
``litellm/model_prices_and_context_window_backup.json``, keeps the Anthropic and OpenAI
chat/responses models and their price and limit fields (the rule of
``ccproxy_plugin_pricing.litellm.select_models``, the same one the plugin applies at run time),
and writes ``src/ccproxy_plugin_pricing/data/prices.json`` with a header recording the litellm
version read. litellm itself is never imported or installed.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = PACKAGE_DIR / "src" / "ccproxy_plugin_pricing" / "data" / "prices.json"
TABLE_MEMBER = "litellm/model_prices_and_context_window_backup.json"
PIP_TIMEOUT_SECONDS = 600

sys.path.insert(0, str(PACKAGE_DIR / "src"))  # use this checkout's selection rule

from ccproxy_plugin_pricing.litellm import select_models  # noqa: E402


def pip_command() -> list[str]:
    """``python -m pip`` when pip is importable, else ``pip`` on PATH, else ``uvx pip``."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    pip = shutil.which("pip") or shutil.which("pip3")
    if pip is not None:
        return [pip]
    uvx = shutil.which("uvx")
    if uvx is not None:
        return [uvx, "pip"]
    raise SystemExit("no pip found: install pip or uv, or pass --wheel PATH")


def download_wheel(version: str | None, dest: Path) -> Path:
    """``pip download litellm[==version] --no-deps`` into ``dest``; the wheel's path."""
    requirement = f"litellm=={version}" if version else "litellm"
    command = [
        *pip_command(),
        "download",
        requirement,
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(dest),
    ]
    print("running:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, timeout=PIP_TIMEOUT_SECONDS)
    wheels = sorted(dest.glob("litellm-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one litellm wheel in {dest}, found {len(wheels)}")
    return wheels[0]


def wheel_version(wheel: zipfile.ZipFile) -> str:
    """The ``Version`` of the wheel's ``*.dist-info/METADATA``."""
    for name in wheel.namelist():
        if name.endswith(".dist-info/METADATA") and name.count("/") == 1:
            metadata = email.parser.Parser().parsestr(wheel.read(name).decode("utf-8"))
            version = metadata.get("Version")
            if version:
                return str(version)
    raise SystemExit("the wheel has no dist-info/METADATA with a Version")


def build_snapshot(wheel_path: Path, expected_version: str | None) -> dict[str, object]:
    """The snapshot document built from ``wheel_path``."""
    with zipfile.ZipFile(wheel_path) as wheel:
        version = wheel_version(wheel)
        if expected_version and version != expected_version:
            raise SystemExit(f"asked for litellm {expected_version}, the wheel is {version}")
        table = json.loads(wheel.read(TABLE_MEMBER))
    models = select_models(table, min_models=1)
    return {
        "source": "litellm",
        "litellm_version": version,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "source_file": TABLE_MEMBER,
        "wheel": wheel_path.name,
        "wheel_sha256": hashlib.sha256(wheel_path.read_bytes()).hexdigest(),
        "models": models,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="litellm version to read (default: the latest)")
    parser.add_argument("--wheel", type=Path, help="use this litellm wheel instead of downloading")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="litellm-wheel-") as tmp:
        wheel = args.wheel or download_wheel(args.version, Path(tmp))
        snapshot = build_snapshot(wheel, args.version)

    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".tmp")
    partial.write_text(json.dumps(snapshot, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    partial.replace(output)
    models = snapshot["models"]
    assert isinstance(models, dict)
    print(
        f"wrote {output} ({output.stat().st_size} bytes): {len(models)} models "
        f"from litellm {snapshot['litellm_version']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
