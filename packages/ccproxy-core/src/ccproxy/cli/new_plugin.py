"""``ccproxy plugins new``: write a complete plugin package from the template shipped in core.

The template lives in ``ccproxy/templates/plugin`` (package data): ``common/`` is written for every
type, then the folder of the chosen type adds ``plugin.py`` and ``tests/test_plugin.py``. Files
ending in ``.tmpl`` are ``string.Template`` texts. Only the standard library is imported here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import sys
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Final, Literal

from ccproxy._version import __version__

__all__ = [
    "NAME_PATTERN",
    "PLUGIN_TYPES",
    "InstallEnvironment",
    "PluginTemplateError",
    "PluginType",
    "core_range",
    "create_plugin",
    "default_destination",
    "find_workspace_root",
    "next_steps",
]

PluginType = Literal["system", "provider", "auth_provider"]
PLUGIN_TYPES: Final[tuple[PluginType, ...]] = ("system", "provider", "auth_provider")
NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*$")

_TYPE_LABELS: Final[dict[str, str]] = {
    "system": "system",
    "provider": "provider",
    "auth_provider": "auth provider",
}
_DESCRIPTIONS: Final[dict[str, str]] = {
    "system": "ccproxy plugin: {name} (a system plugin serving GET /{name}/hello)",
    "provider": "ccproxy provider plugin: {name} (an Anthropic Messages upstream behind /{name})",
    "auth_provider": "ccproxy auth provider plugin: {name} (provides the oauth.{name} service)",
}
_USAGE: Final[dict[str, str]] = {
    "system": "`ccproxy serve`, then `curl http://127.0.0.1:8000/{name}/hello`.",
    "provider": (
        "Set `plugins.{name}.base_url` and `plugins.{name}.api_key` (or `{env}_API_KEY`), run\n"
        "`ccproxy serve`, then point an Anthropic or OpenAI client at\n"
        "`http://127.0.0.1:8000/{name}` (Anthropic) or `http://127.0.0.1:8000/{name}/v1` (OpenAI)."
    ),
    "auth_provider": (
        "Set `plugins.{name}.token` (or `{env}_TOKEN`): the `oauth.{name}` service hands it to\n"
        "the provider plugin named `{name}`."
    ),
}
# Where each template file goes in the new package; {import_name} is filled in.
_COMMON_FILES: Final = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "CHANGELOG.md.tmpl": "CHANGELOG.md",
    "__init__.py.tmpl": "src/{import_name}/__init__.py",
    "_version.py.tmpl": "src/{import_name}/_version.py",
    "py.typed": "src/{import_name}/py.typed",
}
_TYPE_FILES: Final = {
    "plugin.py.tmpl": "src/{import_name}/plugin.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}
_UV_SOURCES: Final = "\n[tool.uv.sources]\nccproxy-core = { workspace = true }\n"


class PluginTemplateError(Exception):
    """The plugin cannot be created (bad name or type, existing directory); the message says why."""


@dataclass(frozen=True)
class _Names:
    name: str
    dist_name: str
    import_name: str
    class_name: str
    env_prefix: str


def _names(name: str) -> _Names:
    return _Names(
        name=name,
        dist_name="ccproxy-plugin-" + name.replace("_", "-"),
        import_name=f"ccproxy_plugin_{name}",
        class_name="".join(part.capitalize() for part in name.split("_") if part),
        env_prefix=name.upper(),
    )


def core_range(version: str = __version__) -> str:
    """``>=MAJOR.MINOR,<MAJOR+1`` for a core ``version``: the API the template uses, semver-safe."""
    match = re.match(r"^(\d+)\.(\d+)", version)
    if match is None:
        raise PluginTemplateError(f"cannot read a major.minor version from {version!r}")
    major, minor = int(match.group(1)), int(match.group(2))
    return f">={major}.{minor},<{major + 1}"


def default_destination(cwd: Path | None = None) -> Path:
    """``./packages`` when it exists (a workspace like ours), else the working directory."""
    base = cwd if cwd is not None else Path.cwd()
    packages = base / "packages"
    return packages if packages.is_dir() else base


def find_workspace_root(start: Path) -> Path | None:
    """The nearest uv workspace root at or above ``start`` that holds ``packages/ccproxy-core``."""
    for directory in (start, *start.parents):
        pyproject = directory / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        workspace = data.get("tool", {}).get("uv", {}).get("workspace")
        if workspace is not None and (directory / "packages" / "ccproxy-core").is_dir():
            return directory
    return None


def _template_dir() -> Traversable:
    return files("ccproxy").joinpath("templates", "plugin")


def _render(source: Traversable, values: dict[str, str]) -> str:
    text = source.read_text(encoding="utf-8")
    return Template(text).substitute(values) if source.name.endswith(".tmpl") else text


def create_plugin(name: str, plugin_type: str = "system", dest: Path | None = None) -> Path:
    """Write the package ``ccproxy-plugin-<name>`` into ``dest`` and return its directory."""
    if not NAME_PATTERN.match(name):
        raise PluginTemplateError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and underscores, "
            "starting with a letter (e.g. my_plugin)"
        )
    if plugin_type not in PLUGIN_TYPES:
        raise PluginTemplateError(
            f"unknown plugin type {plugin_type!r}; choose one of {', '.join(PLUGIN_TYPES)}"
        )
    names = _names(name)
    destination = (dest if dest is not None else default_destination()).resolve()
    target = destination / names.dist_name
    if target.exists():
        raise PluginTemplateError(f"{target} already exists; not overwriting it")

    in_workspace = find_workspace_root(destination) is not None
    env = names.env_prefix
    values = {
        "name": name,
        "dist_name": names.dist_name,
        "import_name": names.import_name,
        "class_name": names.class_name,
        "env_prefix": env,
        "core_range": core_range(),
        "description": _DESCRIPTIONS[plugin_type].format(name=name),
        "type_label": _TYPE_LABELS[plugin_type],
        "usage": _USAGE[plugin_type].format(name=name, env=env),
        "uv_sources": _UV_SOURCES if in_workspace else "",
    }
    root = _template_dir()
    sources = [(root / "common" / src, dst) for src, dst in _COMMON_FILES.items()]
    sources += [(root / plugin_type / src, dst) for src, dst in _TYPE_FILES.items()]
    rendered = [
        (target / dst.format(import_name=names.import_name), _render(src, values))
        for src, dst in sources
    ]
    # Everything is rendered before anything is written: a template error leaves no half package.
    for path, text in rendered:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


# --- what to run next, in the environment ``ccproxy plugins new`` ran in ---------------------


@dataclass(frozen=True)
class InstallEnvironment:
    """What the next steps depend on: the running interpreter and the tools next to it."""

    python: str
    """The interpreter running ccproxy (``sys.executable``)."""
    has_pip: bool
    """Whether that interpreter can ``-m pip`` (uv's virtual environments have no pip)."""
    uv: str | None
    """``uv`` on PATH, if any."""
    ccproxy: str
    """How to call this ccproxy: ``ccproxy`` when PATH finds this one, else its full path or
    ``PYTHON -m ccproxy``."""

    @classmethod
    def detect(cls) -> InstallEnvironment:
        """The environment of this process."""
        python = sys.executable
        script = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "ccproxy"
        on_path = shutil.which("ccproxy")
        if on_path is not None and script.exists() and Path(on_path).resolve() == script.resolve():
            ccproxy = "ccproxy"
        elif script.exists():
            ccproxy = _shell_path(str(script))
        else:
            ccproxy = f"{shlex.quote(python)} -m ccproxy"
        return cls(
            python=python,
            has_pip=importlib.util.find_spec("pip") is not None,
            uv=shutil.which("uv"),
            ccproxy=ccproxy,
        )


def _shell_path(text: str) -> str:
    """``text`` quoted for a POSIX shell, keeping a leading ``~/`` expandable."""
    if text.startswith("~/"):
        return "~/" + shlex.quote(text[2:])
    return shlex.quote(text)


def _test_requirements(package: Path) -> list[str]:
    try:
        data = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))
        group = data["dependency-groups"]["test"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ["pytest", "pytest-asyncio", "pytest-timeout"]
    return [item for item in group if isinstance(item, str)]


def next_steps(package: Path, shown: str, environment: InstallEnvironment) -> list[str]:
    """The commands that install ``package`` (shown to the user as ``shown``), list it and run
    its tests, in ``environment``.

    A package created in a ccproxy workspace's ``packages/`` joins that workspace: ``uv sync``.
    Elsewhere it is installed editable into the interpreter running ccproxy, with ``uv pip`` in
    a virtual environment without pip (what ``uv venv`` and ``uv sync`` make), else with that
    interpreter's own ``-m pip`` (never a bare ``pip``, which may belong to another Python).
    """
    path = _shell_path(shown)
    root = find_workspace_root(package.parent)
    if root is not None and package.parent == root / "packages" and environment.uv is not None:
        return [
            f"Next: uv sync --all-packages   (in {_shell_path(str(root))}; it joined the workspace)",
            "      uv run ccproxy plugins list",
            f"Its tests: uv run pytest {path}",
        ]
    python = shlex.quote(environment.python)
    if not environment.has_pip and environment.uv is not None:
        install = f"uv pip install --python {python}"
    else:
        install = f"{python} -m pip install"
    lines = []
    if not environment.has_pip and environment.uv is None:
        lines.append(f"This Python has no pip; add it first: {python} -m ensurepip")
    requirements = " ".join(shlex.quote(item) for item in _test_requirements(package))
    lines += [
        f"Next: {install} -e {path}",
        f"      {environment.ccproxy} plugins list",
        f"Its tests: {install} {requirements}",
        f"           cd {path} && {python} -m pytest",
    ]
    return lines
