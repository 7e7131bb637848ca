"""Discovery: entry points and local directories, names, enablement, core ranges, isolation."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fastapi import APIRouter

from ccproxy import __version__
from ccproxy.app import get_plugin_host
from ccproxy.config import Settings, load_settings
from ccproxy.plugins import PluginManifest, RouteSpec, SystemPluginFactory, SystemPluginRuntime
from ccproxy.testing import app_client, fake_entry_point, started_app


def make_factory(
    name: str, *, answer: str | None = None, version: str = "0.1.0"
) -> SystemPluginFactory:
    """A system plugin whose GET /<name>/whoami answers ``answer``."""
    router = APIRouter()
    reply = answer or name

    @router.get("/whoami")
    async def whoami() -> dict[str, str]:
        return {"plugin": reply}

    return SystemPluginFactory(
        PluginManifest(name=name, version=version, routes=[RouteSpec(router)])
    )


def write_local_plugin(
    root: Path, folder: str, *, manifest_name: str | None = None, answer: str = "local"
) -> None:
    plugin_dir = root / folder
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "plugin.py").write_text(
        textwrap.dedent(
            f"""
            from fastapi import APIRouter
            from ccproxy.plugins import PluginManifest, RouteSpec, SystemPluginFactory, SystemPluginRuntime

            router = APIRouter()

            @router.get("/whoami")
            async def whoami():
                return {{"plugin": {answer!r}}}

            factory = SystemPluginFactory(
                PluginManifest(name={(manifest_name or folder)!r}, version="9.9.9", routes=[RouteSpec(router)])
            )
            """
        )
    )


def states(app) -> dict[str, tuple[str, str | None]]:
    return {p["name"]: (p["status"], p["error"]) for p in get_plugin_host(app).status()["plugins"]}


async def test_entry_point_plugin_is_loaded_and_routed() -> None:
    async with started_app(entry_points=[fake_entry_point("alpha", make_factory("alpha"))]) as app:
        async with app_client(app) as client:
            response = await client.get("/alpha/whoami")
            status = (await client.get("/api/plugins/status")).json()
    assert response.json() == {"plugin": "alpha"}
    [alpha] = status["plugins"]
    assert alpha["status"] == "initialized"
    assert alpha["source"] == "entry_point"
    assert alpha["distribution"] == "fake-plugin"
    assert alpha["type"] == "system"
    assert status["initialization_order"] == ["alpha"]


async def test_entry_point_may_be_a_callable_returning_a_factory() -> None:
    async with started_app(
        entry_points=[fake_entry_point("beta", lambda: make_factory("beta"))]
    ) as app:
        assert states(app)["beta"] == ("initialized", None)


async def test_local_plugin_wins_over_entry_point_of_same_name(tmp_path: Path) -> None:
    write_local_plugin(tmp_path, "alpha", answer="from-folder")
    settings = Settings(plugin_dirs=[tmp_path])
    async with started_app(
        settings,
        entry_points=[fake_entry_point("alpha", make_factory("alpha", answer="from-entry-point"))],
    ) as app:
        async with app_client(app) as client:
            response = await client.get("/alpha/whoami")
        [record] = get_plugin_host(app).status()["plugins"]
    assert response.json() == {"plugin": "from-folder"}
    assert record["source"] == "local"
    assert record["version"] == "9.9.9"


async def test_disable_local_discovery_ignores_plugin_folders(tmp_path: Path) -> None:
    write_local_plugin(tmp_path, "gamma")
    settings = Settings(plugin_dirs=[tmp_path], plugins_disable_local_discovery=True)
    async with started_app(settings) as app:
        assert states(app) == {}


async def test_disable_local_discovery_from_environment(tmp_path: Path) -> None:
    write_local_plugin(tmp_path, "gamma")
    env = {"PLUGINS_DISABLE_LOCAL_DISCOVERY": "true", "PLUGIN_DIRS": f'["{tmp_path}"]'}
    async with started_app(load_settings(env=env, cwd=tmp_path)) as app:
        assert states(app) == {}


async def test_folder_name_must_match_manifest_name(tmp_path: Path) -> None:
    write_local_plugin(tmp_path, "delta", manifest_name="not_delta")
    async with started_app(Settings(plugin_dirs=[tmp_path])) as app:
        status, error = states(app)["delta"]
    assert status == "skipped"
    assert "name mismatch" in error and "'not_delta'" in error


async def test_entry_point_name_must_match_manifest_name() -> None:
    async with started_app(
        entry_points=[fake_entry_point("epsilon", make_factory("other"))]
    ) as app:
        status, error = states(app)["epsilon"]
    assert status == "skipped"
    assert "entry point is 'epsilon'" in error


async def test_allow_list_and_deny_list() -> None:
    eps = [fake_entry_point(n, make_factory(n)) for n in ("one", "two", "three")]
    async with started_app(
        Settings(enabled_plugins=["one", "two"], disabled_plugins=["two"]), entry_points=eps
    ) as app:
        result = states(app)
    assert result["one"] == ("initialized", None)
    assert result["two"] == ("disabled", "disabled by disabled_plugins")
    assert result["three"] == ("disabled", "not listed in enabled_plugins")


async def test_per_plugin_enabled_flag_beats_lists_without_turning_on_allow_list_mode() -> None:
    eps = [fake_entry_point(n, make_factory(n)) for n in ("one", "two", "three")]
    settings = Settings(
        disabled_plugins=["one"],
        plugins={"one": {"enabled": True}, "two": {"enabled": "false"}},
    )
    async with started_app(settings, entry_points=eps) as app:
        result = states(app)
    assert result["one"][0] == "initialized"
    assert result["two"] == ("disabled", "disabled by plugins.two.enabled = false")
    assert result["three"][0] == "initialized"


async def test_disabled_plugin_is_never_imported() -> None:
    imported: list[str] = []

    def loader():
        imported.append("x")
        return make_factory("lazy")

    async with started_app(
        Settings(disabled_plugins=["lazy"]), entry_points=[fake_entry_point("lazy", loader)]
    ) as app:
        assert states(app)["lazy"][0] == "disabled"
    assert imported == []


async def test_broken_plugin_beside_a_good_one() -> None:
    def broken():
        raise ImportError("No module named 'missing_dependency'")

    eps = [fake_entry_point("broken", broken), fake_entry_point("good", make_factory("good"))]
    async with started_app(entry_points=eps) as app:
        async with app_client(app) as client:
            assert (await client.get("/good/whoami")).status_code == 200
            health = await client.get("/health")
        result = states(app)
    assert result["good"] == ("initialized", None)
    status, error = result["broken"]
    assert status == "failed"
    assert "missing_dependency" in error
    assert health.status_code == 200
    assert health.json()["checks"]["plugin:broken"][0]["status"] == "warn"


async def test_entry_point_that_is_not_a_factory_fails_with_reason() -> None:
    async with started_app(entry_points=[fake_entry_point("odd", lambda: 42)]) as app:
        status, error = states(app)["odd"]
    assert status == "failed"
    assert "not a PluginFactory" in error


async def test_plugin_whose_core_range_excludes_this_core_is_skipped_before_import() -> None:
    imported: list[str] = []

    def loader():
        imported.append("x")
        return make_factory("future")

    ep = fake_entry_point("future", loader, requires_core=">=2.0,<3")
    async with started_app(entry_points=[ep]) as app:
        status, error = states(app)["future"]
    assert status == "skipped"
    assert ">=2.0" in error
    assert "<3" in error
    assert f"ccproxy-core {__version__} is installed" in error
    assert imported == []


async def test_local_plugin_core_range_from_manifest(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "old"
    plugin_dir.mkdir()
    (plugin_dir / "plugin.py").write_text(
        "from ccproxy.plugins import PluginManifest, SystemPluginFactory\n"
        "factory = SystemPluginFactory(PluginManifest(name='old', requires_core='<1.0'))\n"
    )
    async with started_app(Settings(plugin_dirs=[tmp_path])) as app:
        status, error = states(app)["old"]
    assert status == "skipped"
    assert "requires ccproxy-core<1.0" in error


async def test_invalid_plugin_config_skips_only_that_plugin() -> None:
    from pydantic import BaseModel

    class StrictConfig(BaseModel):
        limit: int = 1

    strict = SystemPluginFactory(PluginManifest(name="strict", config_class=StrictConfig))
    eps = [fake_entry_point("strict", strict), fake_entry_point("fine", make_factory("fine"))]
    settings = Settings(plugins={"strict": {"limit": "lots"}})
    async with started_app(settings, entry_points=eps) as app:
        result = states(app)
    assert result["fine"][0] == "initialized"
    assert result["strict"][0] == "failed"
    assert "plugins.strict.limit" in result["strict"][1]


async def test_plugin_config_from_environment_decodes_json_tables(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class AliasConfig(BaseModel):
        model_aliases: dict[str, str] = {}
        enabled: bool = True

    seen: dict[str, object] = {}

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            seen["config"] = self.context.get("config")

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    env = {"PLUGINS__ALIASED__MODEL_ALIASES": '{"sonnet": "claude-sonnet-4-6"}'}
    factory = Factory(PluginManifest(name="aliased", config_class=AliasConfig))
    settings = load_settings(env=env, cwd=tmp_path)
    async with started_app(settings, entry_points=[fake_entry_point("aliased", factory)]):
        pass
    config = seen["config"]
    assert isinstance(config, AliasConfig)
    assert config.model_aliases == {"sonnet": "claude-sonnet-4-6"}
    assert config.enabled is True
