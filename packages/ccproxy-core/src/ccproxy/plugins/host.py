"""The plugin host of one app: loads plugins, wires what they declare, runs their lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from ccproxy._version import __version__
from ccproxy.hooks import AppShutdown, AppStartup, HookManager, PluginFailed, PluginLoaded
from ccproxy.http import build_http_client
from ccproxy.logging import get_logger, mask_url_passwords
from ccproxy.plugins.core_services import CoreServices
from ccproxy.plugins.discovery import (
    EntryPointLike,
    core_range_problem,
    disabled_reason,
    discover_candidates,
    resolve_factory,
)
from ccproxy.plugins.health import HealthCheckResult, HealthStatus, health_result, worst_status
from ccproxy.plugins.manifest import MiddlewareSpec
from ccproxy.plugins.ordering import resolve_order
from ccproxy.plugins.plugin_config import PluginConfigError, validate_plugin_config
from ccproxy.plugins.registry import PluginRecord, PluginRegistry
from ccproxy.plugins.scheduler import Scheduler
from ccproxy.proxy.pipeline import ProviderAdapter
from ccproxy.proxy.streaming import StreamingHandler
from ccproxy.proxy.tracing import RequestTracer
from ccproxy.state import StateUnavailable, build_shared_state

if TYPE_CHECKING:
    from enum import Enum

    import httpx
    from fastapi import APIRouter, FastAPI
    from starlette.applications import Starlette

    from ccproxy.config import Settings

__all__ = ["HEALTH_CHECK_TIMEOUT_SECONDS", "PluginHost", "get_plugin_host", "plugin_registry"]

HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginHost:
    """Owns the registry, hooks, scheduler and shared client of one app.

    ``setup()`` is synchronous (discovery, validation, order, routes, mounts, middleware; no
    network and no credential reads). ``startup()`` initialises runtimes in dependency order and
    is idempotent; ``shutdown()`` reverses it.
    """

    def __init__(
        self,
        settings: Settings,
        app: FastAPI,
        *,
        entry_points: Iterable[EntryPointLike] | None = None,
        plugin_dirs: Iterable[Path] | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.logger = get_logger("ccproxy.plugins")
        self.registry = PluginRegistry()
        self.hooks = HookManager(self.logger)
        self.scheduler = Scheduler(self.logger)
        self.http_client = build_http_client(settings.http, transport=http_transport)
        self.request_tracer = RequestTracer(settings.logging.trace_dir)
        self.streaming_handler = StreamingHandler(self.hooks)
        redis_url = settings.state.redis_url
        self.shared_state = build_shared_state(
            None if redis_url is None else redis_url.get_secret_value(),
            key_prefix=settings.state.key_prefix,
        )
        self.core_services = CoreServices(
            settings=settings,
            http_client=self.http_client,
            scheduler=self.scheduler,
            plugin_registry=self.registry,
            hook_manager=self.hooks,
            request_tracer=self.request_tracer,
            streaming_handler=self.streaming_handler,
            shared_state=self.shared_state,
            app=app,
        )
        self._entry_points = entry_points
        self._plugin_dirs = plugin_dirs
        self._setup_done = False
        self._started = False
        self._stopped = False
        self._lock = asyncio.Lock()

    # set-up (synchronous)
    def setup(self) -> list[MiddlewareSpec]:
        """Load plugins and mount what they declare; returns their middleware, outermost first."""
        if self._setup_done:
            return []
        self._setup_done = True
        candidates = discover_candidates(
            self.settings, entry_points=self._entry_points, plugin_dirs=self._plugin_dirs
        )
        loaded: dict[str, PluginRecord] = {}
        for candidate in candidates:
            record = PluginRecord(
                name=candidate.name,
                source=candidate.source,
                distribution=candidate.distribution,
                version=candidate.distribution_version,
                location=candidate.location,
            )
            self.registry.add_plugin(record)
            reason = disabled_reason(candidate.name, self.settings)
            if reason is not None:
                record.state, record.error = "disabled", reason
                continue
            problem = core_range_problem(candidate.core_requirement, __version__)
            if problem is not None:
                self._skip(record, problem)
                continue
            try:
                factory = resolve_factory(candidate.loader())
            except Exception as exc:
                self._fail(record, f"import failed: {_describe(exc)}", exc)
                continue
            manifest = factory.manifest
            record.factory, record.manifest = factory, manifest
            record.plugin_type = factory.plugin_type
            if manifest.name != candidate.name:
                where = "entry point" if candidate.source == "entry_point" else "folder"
                self._skip(
                    record,
                    f"name mismatch: {where} is {candidate.name!r} but manifest.name is {manifest.name!r}",
                )
                continue
            problem = core_range_problem(manifest.requires_core, __version__)
            if problem is not None:
                self._skip(record, problem)
                continue
            try:
                record.config = validate_plugin_config(
                    manifest.name,
                    manifest.config_class,
                    self.settings.plugin_table(manifest.name),
                    sources=self.settings.config_sources,
                )
            except PluginConfigError as exc:
                self._fail(record, f"invalid configuration: {exc}")
                continue
            self.core_services.plugin_configs[manifest.name] = record.config
            record.state = "loaded"
            loaded[manifest.name] = record

        order = resolve_order({name: rec.manifest for name, rec in loaded.items() if rec.manifest})
        for name, reason in order.skipped.items():
            self._skip(loaded.pop(name), reason)
        self.registry.initialization_order = list(order.order)

        middleware: list[tuple[int, int, MiddlewareSpec]] = []
        for position, name in enumerate(order.order):
            record = loaded[name]
            if not self._wire(record):
                continue
            assert record.manifest is not None
            for spec in record.manifest.middleware:
                middleware.append((int(spec.priority), position, spec))
        middleware.sort(key=lambda item: (item[0], item[1]))
        return [spec for _, _, spec in middleware]

    def public_paths(self) -> frozenset[str]:
        """The token-free GET paths declared by the plugins that were wired."""
        paths: set[str] = set()
        for name in self.registry.initialization_order:
            record = self.registry.get_plugin(name)
            if record is not None and record.manifest is not None and record.runtime is not None:
                paths.update(record.manifest.public_paths)
        return frozenset(paths)

    def _include(self, router: APIRouter, prefix: str, tags: list[str | Enum]) -> None:
        """Mount ``router`` under ``prefix``.

        Its plain Starlette routes (the providers' POST endpoints) are also put straight onto
        the app, ahead of the included router, so they match first: FastAPI includes routers
        lazily, through a chain of wrappers that every request, and every held stream, would
        otherwise carry. The router itself is left as it is (a manifest's router is shared by
        every app built from the factory).
        """
        for route in router.routes:
            if type(route) is Route:
                self.app.add_route(
                    prefix + route.path,
                    route.endpoint,
                    methods=sorted(route.methods or ()),
                    name=route.name,
                    include_in_schema=route.include_in_schema,
                )
        self.app.include_router(router, prefix=prefix, tags=tags)

    def _wire(self, record: PluginRecord) -> bool:
        factory, manifest = record.factory, record.manifest
        assert factory is not None
        assert manifest is not None
        try:
            runtime = factory.create_runtime()
            context = factory.create_context(self.core_services)
            context["factory"] = factory
            for route in manifest.routes:
                prefix = f"/{manifest.name}" if route.prefix is None else route.prefix
                self._include(route.router, prefix, [*route.tags, manifest.name])
            router = context.get("router")
            if router is not None:
                self._include(router, f"/{manifest.name}", [manifest.name])
            for mount in manifest.mounts:
                self.app.mount(
                    mount.path, mount.app, name=mount.name or f"{manifest.name}:{mount.path}"
                )
        except Exception as exc:
            self._fail(record, f"set-up failed: {_describe(exc)}", exc)
            return False
        record.runtime, record.context = runtime, context
        return True

    def _skip(self, record: PluginRecord, reason: str) -> None:
        record.state, record.error = "skipped", reason
        self.logger.warning("plugin_skipped", plugin_name=record.name, reason=reason)

    def _fail(self, record: PluginRecord, reason: str, exc: BaseException | None = None) -> None:
        record.state, record.error = "failed", reason
        self.logger.error("plugin_failed", plugin_name=record.name, reason=reason, exc_info=exc)

    # lifecycle (async)
    async def startup(self) -> None:
        """Initialise every loaded plugin in dependency order (idempotent)."""
        async with self._lock:
            if self._started:
                return
            self._started = True
            for name in self.registry.initialization_order:
                record = self.registry.get_plugin(name)
                if record is None or record.state != "loaded" or record.runtime is None:
                    continue
                await self._initialize(record)
            for record in self.registry.plugins():
                if record.state in ("failed", "skipped"):
                    await self.hooks.emit(
                        PluginFailed(plugin=record.name, error=record.error or record.state)
                    )
            await self.scheduler.start()
            await self.hooks.emit(AppStartup())
            self.logger.info(
                "plugins_started",
                initialized=[r.name for r in self.registry.plugins() if r.state == "initialized"],
                not_running={
                    r.name: r.error for r in self.registry.plugins() if r.state != "initialized"
                },
            )

    async def _initialize(self, record: PluginRecord) -> None:
        runtime, context, manifest = record.runtime, record.context, record.manifest
        assert runtime is not None
        assert context is not None
        assert manifest is not None
        for service in manifest.requires:
            if not self.registry.has_service(service):
                self._skip(
                    record, f"requires service {service!r}, which its provider did not register"
                )
                return
        try:
            await runtime.initialize(context)
            if not await runtime.validate():
                raise RuntimeError("validate() returned False")
            for hook_spec in manifest.hooks:
                self.hooks.register(hook_spec.hook_class(**hook_spec.kwargs), plugin=manifest.name)
            for task in manifest.tasks:
                self.scheduler.add_task(task, plugin=manifest.name)
        except Exception as exc:
            self._fail(record, f"initialisation failed: {_describe(exc)}", exc)
            self.hooks.unregister_plugin(manifest.name)
            self.scheduler.remove_plugin_tasks(manifest.name)
            self.registry.unregister_plugin_services(manifest.name)
            try:
                await runtime.shutdown()
            except Exception as shutdown_exc:
                self.logger.error(
                    "plugin_shutdown_failed",
                    plugin_name=manifest.name,
                    error=_describe(shutdown_exc),
                )
            return
        missing = [s for s in manifest.provides if not self.registry.has_service(s)]
        if missing:
            self.logger.warning(
                "plugin_services_missing", plugin_name=manifest.name, services=missing
            )
        record.state = "initialized"
        await self.hooks.emit(
            PluginLoaded(
                plugin=manifest.name,
                version=manifest.version,
                plugin_type=str(record.plugin_type or ""),
            )
        )

    async def shutdown(self) -> None:
        """Stop tasks, shut runtimes down in reverse order and close the shared client."""
        async with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._started:
                await self.hooks.emit(AppShutdown())
            await self.scheduler.stop()
            for name in reversed(self.registry.initialization_order):
                record = self.registry.get_plugin(name)
                if record is None or record.runtime is None or record.state != "initialized":
                    continue
                try:
                    await record.runtime.shutdown()
                except Exception as exc:
                    self.logger.error(
                        "plugin_shutdown_failed",
                        plugin_name=name,
                        error=_describe(exc),
                        exc_info=exc,
                    )
                record.state = "stopped"
            await self.http_client.aclose()
            await self.shared_state.aclose()

    # reporting
    def status(self) -> dict[str, Any]:
        """The body of ``GET /api/plugins/status`` (URL passwords masked)."""
        return _without_url_passwords(
            {
                "initialization_order": list(self.registry.initialization_order),
                "services": self.registry.services(),
                "plugins": [record.summary() for record in self.registry.plugins()],
            }
        )

    async def accounts(self) -> dict[str, list[dict[str, Any]]]:
        """The body of ``GET /api/accounts``: every running provider's accounts."""
        found: dict[str, list[dict[str, Any]]] = {}
        for record in self.registry.plugins():
            adapter = getattr(record.runtime, "adapter", None)
            if record.state == "initialized" and isinstance(adapter, ProviderAdapter):
                found[adapter.endpoint.provider] = await adapter.describe_accounts()
        return found

    async def health(self) -> dict[str, Any]:
        """IETF health of the app: worst of every running plugin's check."""
        checks: dict[str, list[HealthCheckResult]] = {}
        statuses: list[HealthStatus] = []
        for record in self.registry.plugins():
            if record.state == "disabled":
                continue
            result = await self._plugin_health(record)
            checks[f"plugin:{record.name}"] = [result]
            statuses.append(result["status"])
        if self.shared_state.shared:
            result = await self._state_health()
            checks["state:redis"] = [result]
            statuses.append(result["status"])
        status = worst_status(statuses)
        body: dict[str, Any] = {
            "status": status,
            "version": __version__,
            "serviceId": "ccproxy",
            "description": "ccproxy local LLM proxy",
            "checks": checks,
        }
        if not checks:
            body["output"] = (
                "no plugins running; install some, e.g. pip install ccproxy-plugin-claude"
            )
        # Checks show configured URLs (base_url, Redis); a password in one is never shown.
        return _without_url_passwords(body)

    async def _state_health(self) -> HealthCheckResult:
        """Whether the shared state's Redis answers (a slow one counts as down)."""
        state = self.shared_state
        try:
            async with asyncio.timeout(HEALTH_CHECK_TIMEOUT_SECONDS):
                await state.get("health")
        except (StateUnavailable, TimeoutError) as exc:
            return health_result(
                "warn",
                component_id="state",
                component_type="datastore",
                output=f"shared state: {exc}",
            )
        return health_result(
            "pass",
            component_id="state",
            component_type="datastore",
            output=f"shared state: {state!r}",
        )

    async def _plugin_health(self, record: PluginRecord) -> HealthCheckResult:
        version = record.manifest.version if record.manifest else record.version
        if record.state != "initialized" or record.runtime is None:
            # A plugin that is not running degrades the app but does not stop it serving.
            return health_result(
                "warn",
                component_id=record.name,
                version=version,
                output=record.error or record.state,
            )
        try:
            return await asyncio.wait_for(
                record.runtime.health_check(), HEALTH_CHECK_TIMEOUT_SECONDS
            )
        except TimeoutError:
            return health_result(
                "warn", component_id=record.name, version=version, output="health check timed out"
            )
        except Exception as exc:
            return health_result(
                "fail", component_id=record.name, version=version, output=_describe(exc)
            )


def _without_url_passwords(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (plain JSON data) with the password of every URL in its strings masked."""
    return {key: _masked(value) for key, value in body.items()}


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, dict):
        return _without_url_passwords(value)
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def get_plugin_host(app: Starlette) -> PluginHost:
    """The plugin host ``create_app`` attached to ``app``."""
    host = getattr(app.state, "plugin_host", None)
    if not isinstance(host, PluginHost):
        raise RuntimeError("app was not built by ccproxy.create_app")
    return host


def plugin_registry(app: Starlette) -> PluginRegistry:
    """The plugin registry of ``app``: its plugins' runtimes and the services they registered.

    For a plugin's own routes, ``plugin_registry(request.app).get_runtime(NAME)`` finds the
    runtime that serves them without any global state.
    """
    return get_plugin_host(app).registry
