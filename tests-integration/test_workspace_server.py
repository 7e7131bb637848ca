"""The real ``ccproxy serve`` with every workspace package installed, driven over loopback."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ccproxy import __version__
from support import running_proxy

REPO = Path(__file__).resolve().parents[1]


def workspace_packages() -> dict[str, dict]:
    packages = {}
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        packages[project["name"]] = project
    return packages


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_proxy(tmp_path) as url:
        yield url


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
