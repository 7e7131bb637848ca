"""The real ``ccproxy serve`` with every workspace package installed, driven over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ccproxy import __version__
from ccproxy.testing import free_port

REPO = Path(__file__).resolve().parents[1]


def workspace_packages() -> dict[str, dict]:
    packages = {}
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        packages[project["name"]] = project
    return packages


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ccproxy", "serve", "--port", str(port), "--log-level", "WARNING"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"ccproxy serve exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("ccproxy serve did not answer /health within 20 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_server_runs_every_installed_plugin(server: str) -> None:
    installed = sorted(ep.name for ep in metadata.entry_points(group="ccproxy.plugins"))
    status = httpx.get(f"{server}/api/plugins/status", timeout=5).json()
    assert sorted(p["name"] for p in status["plugins"]) == installed
    not_running = {p["name"]: p["error"] for p in status["plugins"] if p["status"] != "initialized"}
    assert not_running == {}
    health = httpx.get(f"{server}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] in ("pass", "warn")


def test_every_plugin_core_range_admits_the_workspace_core() -> None:
    packages = workspace_packages()
    assert packages["ccproxy-core"]["version"] == __version__
    core = Version(__version__)
    for name, project in packages.items():
        if name == "ccproxy-core":
            continue
        ranges = [
            d[len("ccproxy-core") :]
            for d in project.get("dependencies", [])
            if d.startswith("ccproxy-core")
        ]
        assert ranges, f"{name} must depend on ccproxy-core with a version range"
        assert "==" not in ranges[0], f"{name} pins ccproxy-core exactly: {ranges[0]}"
        assert SpecifierSet(ranges[0]).contains(core), (
            f"{name} declares ccproxy-core{ranges[0]}, core is {core}"
        )
