"""The built wheels, installed outside the workspace (DESIGN.md §8, ``nox -s wheels``).

``nox -s wheels`` builds every ``packages/*`` with ``uv build --no-sources`` into a scratch folder
and points ``CCPROXY_WHEELS_DIST`` at it. Each combination (core alone, core plus one plugin,
everything) gets a fresh venv outside the workspace: first the wheels' third-party requirements
from the package index, then ``ccproxy-*`` with ``--no-index --find-links`` so they can only come
from the wheels built here (PyPI's unrelated ``ccproxy`` can never sneak in). Without
``CCPROXY_WHEELS_DIST`` the module is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import Parser
from functools import cache
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from ccproxy.testing import free_port
from support import isolated_env

pytestmark = [pytest.mark.wheels, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
DIST = os.environ.get("CCPROXY_WHEELS_DIST")
PYTHON = os.environ.get("CCPROXY_WHEELS_PYTHON") or os.environ.get("PYTHON") or "python3"
CORE = "ccproxy-core"
INSTALL_TIMEOUT = 300
CLI_TIMEOUT = 60
# No plugin may reach the internet: the pricing plugin's scheduled refresh is off.
SERVE_ENV = {"PLUGINS__PRICING__REFRESH_INTERVAL_HOURS": "0"}


@dataclass(frozen=True)
class Wheel:
    name: str  # canonical distribution name
    version: Version
    path: Path
    requires: tuple[Requirement, ...]
    plugins: frozenset[str] = field(default_factory=frozenset)  # ccproxy.plugins entry points


def _read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode())
        ep_name = meta_name.replace("METADATA", "entry_points.txt")
        plugins: set[str] = set()
        if ep_name in names:
            section = None
            for raw in archive.read(ep_name).decode().splitlines():
                line = raw.strip()
                if line.startswith("["):
                    section = line.strip("[]")
                elif line and section == "ccproxy.plugins":
                    plugins.add(line.split("=", 1)[0].strip())
    return Wheel(
        name=canonicalize_name(meta["Name"]),
        version=Version(meta["Version"]),
        path=path,
        requires=tuple(Requirement(r) for r in meta.get_all("Requires-Dist") or []),
        plugins=frozenset(plugins),
    )


def dist() -> Path:
    if not DIST:
        pytest.skip("CCPROXY_WHEELS_DIST is not set: run `nox -s wheels`")
    return Path(DIST)


@cache
def wheels() -> dict[str, Wheel]:
    found = [_read_wheel(p) for p in sorted(dist().glob("*.whl"))]
    return {w.name: w for w in found}


def _workspace_names() -> list[str]:
    import tomllib

    names = []
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        names.append(canonicalize_name(tomllib.loads(pyproject.read_text())["project"]["name"]))
    return names


PACKAGES = _workspace_names()
PLUGINS = [n for n in PACKAGES if n != CORE]
COMBINATIONS = {"core": (CORE,), **{p: (CORE, p) for p in PLUGINS}, "all": (CORE, *PLUGINS)}


def _run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT,
) -> str:
    try:
        done = subprocess.run(
            args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {timeout} s: {' '.join(args)}")
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def _uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    return env


def _third_party(names: tuple[str, ...]) -> list[str]:
    reqs: list[str] = []
    for name in names:
        for req in wheels()[name].requires:
            if canonicalize_name(req.name).startswith("ccproxy"):
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            req = Requirement(str(req))
            req.marker = None
            reqs.append(str(req))
    return sorted(set(reqs))


@dataclass
class Venv:
    path: Path
    home: Path
    names: tuple[str, ...]

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def env(self) -> dict[str, str]:
        env = isolated_env(self.home, SERVE_ENV)
        for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            env.pop(key, None)
        env["PATH"] = f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
        return env

    def ccproxy(self, *args: str) -> str:
        return _run([str(self.bin / "ccproxy"), *args], env=self.env(), cwd=self.home)


_venvs: dict[str, Venv] = {}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wheel-venvs")
    assert REPO not in path.parents, "the venvs must live outside the workspace"
    return path


def venv_for(combination: str, scratch: Path) -> Venv:
    """One venv per combination, created on first use and reused by every test of it."""
    if combination in _venvs:
        return _venvs[combination]
    names = COMBINATIONS[combination]
    missing = [n for n in names if n not in wheels()]
    assert not missing, f"no wheel built for {missing} in {dist()}"
    path = scratch / f"venv-{combination}"
    home = scratch / f"home-{combination}"
    home.mkdir()
    env = _uv_env()
    _run(["uv", "venv", "--quiet", str(path), "--python", PYTHON], env=env)
    python = str(path / "bin" / "python")
    pip = ["uv", "pip", "install", "--quiet", "--python", python]
    _run([*pip, *_third_party(names)], env=env, timeout=INSTALL_TIMEOUT)
    _run(
        [*pip, "--no-index", "--find-links", str(dist()), *names],
        env=env,
        timeout=INSTALL_TIMEOUT,
    )
    venv = Venv(path=path, home=home, names=names)
    _venvs[combination] = venv
    return venv


@contextmanager
def serving(venv: Venv, timeout: float = 30.0) -> Iterator[str]:
    """``ccproxy serve`` from the venv on a free loopback port; yields its URL."""
    port = free_port()
    log_path = venv.home / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(venv.bin / "ccproxy"), "serve", "--port", str(port), "--log-level", "WARNING"],
            cwd=venv.home,
            env=venv.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"serve did not answer within {timeout} s:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def expected_plugins(names: tuple[str, ...]) -> dict[str, str]:
    """Plugin entry point name -> distribution, for the wheels of ``names``."""
    return {plugin: name for name in names for plugin in wheels()[name].plugins}


def test_every_package_was_built() -> None:
    assert sorted(wheels()) == sorted(PACKAGES)
    sdists = list(dist().glob("*.tar.gz"))
    assert len(sdists) == len(PACKAGES), sdists


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_core_range_admits_the_built_core(plugin: str) -> None:
    core = wheels()[CORE].version
    ranges = [r for r in wheels()[plugin].requires if canonicalize_name(r.name) == CORE]
    assert ranges, f"{plugin} does not depend on {CORE}"
    (req,) = ranges
    assert req.specifier, f"{plugin} depends on {CORE} without a version range"
    assert "==" not in str(req.specifier), f"{plugin} pins {CORE}: {req.specifier}"
    assert req.specifier.contains(core), f"{plugin} needs {CORE}{req.specifier}; built {core}"
    assert wheels()[plugin].plugins, f"{plugin} declares no ccproxy.plugins entry point"


@pytest.mark.parametrize("combination", list(COMBINATIONS))
def test_installed_from_wheels(combination: str, scratch: Path) -> None:
    venv = venv_for(combination, scratch)
    probe = (
        "import json, ccproxy; from importlib import metadata as m; "
        "print(json.dumps({'file': ccproxy.__file__, 'version': ccproxy.__version__, "
        "'dists': sorted(d.metadata['Name'] for d in m.distributions() "
        "if d.metadata['Name'].lower().startswith('ccproxy'))}))"
    )
    info = json.loads(_run([str(venv.bin / "python"), "-c", probe], env=venv.env()))
    assert Path(info["file"]).is_relative_to(venv.path), info["file"]
    assert info["version"] == str(wheels()[CORE].version)
    assert sorted(canonicalize_name(d) for d in info["dists"]) == sorted(venv.names)
    listed = json.loads(venv.ccproxy("plugins", "list", "--json"))["plugins"]
    got = {p["name"]: canonicalize_name(p["distribution"] or "") for p in listed}
    assert got == expected_plugins(venv.names)


@pytest.mark.parametrize("combination", list(COMBINATIONS))
def test_serve_from_wheels(combination: str, scratch: Path) -> None:
    venv = venv_for(combination, scratch)
    expected = expected_plugins(venv.names)
    with serving(venv) as url:
        health = httpx.get(f"{url}/health", timeout=5)
        status = httpx.get(f"{url}/api/plugins/status", timeout=5).json()
    assert health.status_code == 200, health.text
    assert sorted(p["name"] for p in status["plugins"]) == sorted(expected)
    not_running = {p["name"]: p["error"] for p in status["plugins"] if p["status"] != "initialized"}
    assert not_running == {}
