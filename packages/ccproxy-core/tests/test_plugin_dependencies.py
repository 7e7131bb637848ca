"""Start-up order from provides/requires, missing services, cycles, services across plugins."""

from __future__ import annotations

from typing import Any

from ccproxy.app import get_plugin_host
from ccproxy.plugins import PluginManifest, SystemPluginFactory, SystemPluginRuntime
from ccproxy.plugins.ordering import resolve_order
from ccproxy.testing import fake_entry_point, started_app


def plugin(
    name: str,
    *,
    provides: list[str] | None = None,
    requires: list[str] | None = None,
    optional: list[str] | None = None,
    journal: list[str] | None = None,
    consume: str | None = None,
    seen: dict[str, Any] | None = None,
) -> Any:
    """A system plugin that registers what it provides and records its start-up."""

    class Runtime(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            if journal is not None:
                journal.append(f"init:{self.name}")
            for service in self.manifest.provides:
                self.context.plugin_registry.register_service(
                    service, f"{service}@{self.name}", provider_plugin=self.name
                )
            if consume is not None and seen is not None:
                seen[self.name] = self.context.plugin_registry.get_service(consume, str)

        async def _on_shutdown(self) -> None:
            if journal is not None:
                journal.append(f"stop:{self.name}")

    class Factory(SystemPluginFactory):
        runtime_class = Runtime

    factory = Factory(
        PluginManifest(
            name=name,
            provides=provides or [],
            requires=requires or [],
            optional_requires=optional or [],
        )
    )
    return fake_entry_point(name, factory)


async def test_providers_start_before_consumers_and_stop_after_them() -> None:
    journal: list[str] = []
    eps = [
        plugin("aaa_consumer", requires=["store"], journal=journal),
        plugin("zzz_provider", provides=["store"], journal=journal),
        plugin("mmm_free", journal=journal),
    ]
    async with started_app(entry_points=eps) as app:
        order = get_plugin_host(app).status()["initialization_order"]
    assert order == ["mmm_free", "zzz_provider", "aaa_consumer"]
    assert journal == [
        "init:mmm_free",
        "init:zzz_provider",
        "init:aaa_consumer",
        "stop:aaa_consumer",
        "stop:zzz_provider",
        "stop:mmm_free",
    ]


async def test_optional_requirement_orders_start_up_but_is_not_required() -> None:
    eps = [
        plugin("metrics", optional=["pricing"]),
        plugin("zpricing", provides=["pricing"]),
        plugin("lonely", optional=["nobody_provides_this"]),
    ]
    async with started_app(entry_points=eps) as app:
        status = get_plugin_host(app).status()
    assert status["initialization_order"] == ["lonely", "zpricing", "metrics"]
    assert all(p["status"] == "initialized" for p in status["plugins"])


async def test_missing_required_service_skips_the_plugin_and_its_dependents() -> None:
    eps = [
        plugin("needy", requires=["absent"], provides=["needy_service"]),
        plugin("downstream", requires=["needy_service"]),
        plugin("fine"),
    ]
    async with started_app(entry_points=eps) as app:
        plugins = {p["name"]: p for p in get_plugin_host(app).status()["plugins"]}
    assert plugins["needy"]["status"] == "skipped"
    assert "'absent'" in plugins["needy"]["error"]
    assert "no loaded plugin provides" in plugins["needy"]["error"]
    assert plugins["downstream"]["status"] == "skipped"
    assert "'needy'" in plugins["downstream"]["error"]
    assert plugins["fine"]["status"] == "initialized"


async def test_cycle_of_hard_requirements_is_reported() -> None:
    eps = [
        plugin("chicken", provides=["eggs"], requires=["hens"]),
        plugin("egg", provides=["hens"], requires=["eggs"]),
        plugin("bystander"),
    ]
    async with started_app(entry_points=eps) as app:
        plugins = {p["name"]: p for p in get_plugin_host(app).status()["plugins"]}
    assert plugins["chicken"]["status"] == "skipped"
    assert plugins["chicken"]["error"] == "dependency cycle: chicken -> egg -> chicken"
    assert plugins["egg"]["error"] == "dependency cycle: egg -> chicken -> egg"
    assert plugins["bystander"]["status"] == "initialized"


def test_cycle_closed_only_by_optional_requirements_is_broken_by_name() -> None:
    manifests = {
        "b": PluginManifest(name="b", provides=["sb"], optional_requires=["sa"]),
        "a": PluginManifest(name="a", provides=["sa"], optional_requires=["sb"]),
        "c": PluginManifest(name="c", requires=["sa"]),
    }
    result = resolve_order(manifests)
    assert result.order == ["a", "b", "c"]
    assert result.skipped == {}


def test_two_plugins_providing_one_service_keep_the_first_by_name() -> None:
    manifests = {
        "second": PluginManifest(name="second", provides=["x"]),
        "first": PluginManifest(name="first", provides=["x"]),
    }
    result = resolve_order(manifests)
    assert result.order == ["first"]
    assert "already provided by plugin 'first'" in result.skipped["second"]


async def test_services_across_plugins() -> None:
    seen: dict[str, Any] = {}
    eps = [
        plugin("consumer", requires=["greeting"], consume="greeting", seen=seen),
        plugin("producer", provides=["greeting"]),
    ]
    async with started_app(entry_points=eps) as app:
        registry = get_plugin_host(app).registry
        services = get_plugin_host(app).status()["services"]
        assert registry.get_service("greeting", int) is None  # wrong type
        assert registry.get_service("nothing") is None
    assert seen == {"consumer": "greeting@producer"}
    assert services == {"greeting": "producer"}


async def test_a_plugin_failing_to_initialise_takes_down_only_its_hard_dependents() -> None:
    class Exploding(SystemPluginRuntime):
        async def _on_initialize(self) -> None:
            raise RuntimeError("cannot open the database")

    class ExplodingFactory(SystemPluginFactory):
        runtime_class = Exploding

    eps = [
        fake_entry_point(
            "aaa_store", ExplodingFactory(PluginManifest(name="aaa_store", provides=["store"]))
        ),
        plugin("hard_user", requires=["store"]),
        plugin("soft_user", optional=["store"]),
    ]
    async with started_app(entry_points=eps) as app:
        plugins = {p["name"]: p for p in get_plugin_host(app).status()["plugins"]}
    assert plugins["aaa_store"]["status"] == "failed"
    assert "cannot open the database" in plugins["aaa_store"]["error"]
    assert plugins["hard_user"]["status"] == "skipped"
    assert "'store'" in plugins["hard_user"]["error"]
    assert plugins["soft_user"]["status"] == "initialized"
