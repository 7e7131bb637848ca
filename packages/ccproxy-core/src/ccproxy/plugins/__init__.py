"""The public plugin API: what every plugin imports.

A plugin imports from five modules of ``ccproxy-core`` only, and nothing else of it:

- ``ccproxy.plugins`` (this module): factories, runtimes, the manifest and its specs, the
  context and core services, typed hook events, service protocols, health, settings types,
  errors in the client's dialect;
- :mod:`ccproxy.plugins.provider`: what a provider plugin adds (the adapter base, the
  provider profile, model aliases, the pipeline's extension points);
- :mod:`ccproxy.plugins.cli`: what a plugin's ``ccproxy`` sub-commands need;
- :mod:`ccproxy.auth`: the OAuth toolkit;
- :mod:`ccproxy.testing`: fakes of the upstreams and the pytest plugin.

Every other module of ``ccproxy`` is internal and may change in any release; the lint session's
import contracts keep the shipped plugins to these modules. Exports are lazy (PEP 562): importing
this module costs nothing until a name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccproxy.config import HttpSettings, HttpUrlStr, Settings
    from ccproxy.config.types import HeaderValue
    from ccproxy.hooks import (
        HOOK_EVENT_DOCS,
        AppShutdown,
        AppStartup,
        AuthFailed,
        AuthTokenRefreshed,
        Hook,
        HookEvent,
        HookManager,
        HookPayload,
        PluginFailed,
        PluginLoaded,
        ProviderError,
        ProviderRequestPrepared,
        ProviderRequestSent,
        ProviderResponseReceived,
        ProviderStreamChunk,
        ProviderStreamEnd,
        ProviderStreamStart,
        RequestCompleted,
        RequestFailed,
        RequestStarted,
    )
    from ccproxy.http import build_http_client
    from ccproxy.llm.ir import Usage
    from ccproxy.logging import get_plugin_logger
    from ccproxy.plugins.context import PluginContext
    from ccproxy.plugins.core_services import CoreServices
    from ccproxy.plugins.discovery import COMMANDS_GROUP, ENTRY_POINT_GROUP
    from ccproxy.plugins.factory import (
        AuthProviderPluginFactory,
        PluginFactory,
        ProviderPluginFactory,
        SystemPluginFactory,
    )
    from ccproxy.plugins.health import HealthCheckResult, HealthStatus, health_result
    from ccproxy.plugins.host import plugin_registry
    from ccproxy.plugins.manifest import (
        HookSpec,
        MiddlewareLayer,
        MiddlewareSpec,
        MountSpec,
        PluginManifest,
        RouteSpec,
        TaskSpec,
    )
    from ccproxy.plugins.plugin_config import PluginConfigError, validate_plugin_config
    from ccproxy.plugins.registry import PluginRegistry
    from ccproxy.plugins.runtime import (
        AuthProviderPluginRuntime,
        BasePluginRuntime,
        PluginType,
        ProviderPluginRuntime,
        SystemPluginRuntime,
    )
    from ccproxy.plugins.scheduler import Scheduler
    from ccproxy.proxy.dialect import Dialect, dialect_for
    from ccproxy.proxy.errors import error_body, error_response
    from ccproxy.proxy.record import RequestRecord
    from ccproxy.security import TOKEN_COOKIE, has_valid_token
    from ccproxy.services import (
        AccountInfo,
        AccountSet,
        PermissionService,
        PricingService,
        TokenSource,
    )
    from ccproxy.state import SharedState, StateUnavailable

__all__ = [
    "COMMANDS_GROUP",
    "ENTRY_POINT_GROUP",
    "HOOK_EVENT_DOCS",
    "TOKEN_COOKIE",
    "AccountInfo",
    "AccountSet",
    "AppShutdown",
    "AppStartup",
    "AuthFailed",
    "AuthProviderPluginFactory",
    "AuthProviderPluginRuntime",
    "AuthTokenRefreshed",
    "BasePluginRuntime",
    "CoreServices",
    "Dialect",
    "HeaderValue",
    "HealthCheckResult",
    "HealthStatus",
    "Hook",
    "HookEvent",
    "HookManager",
    "HookPayload",
    "HookSpec",
    "HttpSettings",
    "HttpUrlStr",
    "MiddlewareLayer",
    "MiddlewareSpec",
    "MountSpec",
    "PermissionService",
    "PluginConfigError",
    "PluginContext",
    "PluginFactory",
    "PluginFailed",
    "PluginLoaded",
    "PluginManifest",
    "PluginRegistry",
    "PluginType",
    "PricingService",
    "ProviderError",
    "ProviderPluginFactory",
    "ProviderPluginRuntime",
    "ProviderRequestPrepared",
    "ProviderRequestSent",
    "ProviderResponseReceived",
    "ProviderStreamChunk",
    "ProviderStreamEnd",
    "ProviderStreamStart",
    "RequestCompleted",
    "RequestFailed",
    "RequestRecord",
    "RequestStarted",
    "RouteSpec",
    "Scheduler",
    "Settings",
    "SharedState",
    "StateUnavailable",
    "SystemPluginFactory",
    "SystemPluginRuntime",
    "TaskSpec",
    "TokenSource",
    "Usage",
    "build_http_client",
    "dialect_for",
    "error_body",
    "error_response",
    "get_plugin_logger",
    "has_valid_token",
    "health_result",
    "plugin_registry",
    "validate_plugin_config",
]

# A copy of ``ccproxy.hooks.__all__``: reading that would import ccproxy.hooks (and dataclasses,
# inspect) at ``import ccproxy.plugins``, which this module's lazy exports avoid. A test keeps the
# two equal (tests/test_public_api.py).
_HOOKS = (
    "HOOK_EVENT_DOCS",
    "AppShutdown",
    "AppStartup",
    "AuthFailed",
    "AuthTokenRefreshed",
    "Hook",
    "HookEvent",
    "HookManager",
    "HookPayload",
    "PluginFailed",
    "PluginLoaded",
    "ProviderError",
    "ProviderRequestPrepared",
    "ProviderRequestSent",
    "ProviderResponseReceived",
    "ProviderStreamChunk",
    "ProviderStreamEnd",
    "ProviderStreamStart",
    "RequestCompleted",
    "RequestFailed",
    "RequestStarted",
)

#: Where each public name lives (the modules are internal; this mapping is not API).
_LAZY: dict[str, str] = {
    **dict.fromkeys(("HttpSettings", "HttpUrlStr", "Settings"), "ccproxy.config"),
    "HeaderValue": "ccproxy.config.types",
    **dict.fromkeys(_HOOKS, "ccproxy.hooks"),
    "build_http_client": "ccproxy.http",
    "Usage": "ccproxy.llm.ir",
    "get_plugin_logger": "ccproxy.logging",
    "PluginContext": "ccproxy.plugins.context",
    "CoreServices": "ccproxy.plugins.core_services",
    **dict.fromkeys(("COMMANDS_GROUP", "ENTRY_POINT_GROUP"), "ccproxy.plugins.discovery"),
    **dict.fromkeys(
        (
            "AuthProviderPluginFactory",
            "PluginFactory",
            "ProviderPluginFactory",
            "SystemPluginFactory",
        ),
        "ccproxy.plugins.factory",
    ),
    **dict.fromkeys(
        ("HealthCheckResult", "HealthStatus", "health_result"), "ccproxy.plugins.health"
    ),
    "plugin_registry": "ccproxy.plugins.host",
    **dict.fromkeys(
        (
            "HookSpec",
            "MiddlewareLayer",
            "MiddlewareSpec",
            "MountSpec",
            "PluginManifest",
            "RouteSpec",
            "TaskSpec",
        ),
        "ccproxy.plugins.manifest",
    ),
    **dict.fromkeys(
        ("PluginConfigError", "validate_plugin_config"), "ccproxy.plugins.plugin_config"
    ),
    "PluginRegistry": "ccproxy.plugins.registry",
    **dict.fromkeys(
        (
            "AuthProviderPluginRuntime",
            "BasePluginRuntime",
            "PluginType",
            "ProviderPluginRuntime",
            "SystemPluginRuntime",
        ),
        "ccproxy.plugins.runtime",
    ),
    "Scheduler": "ccproxy.plugins.scheduler",
    **dict.fromkeys(("Dialect", "dialect_for"), "ccproxy.proxy.dialect"),
    **dict.fromkeys(("error_body", "error_response"), "ccproxy.proxy.errors"),
    "RequestRecord": "ccproxy.proxy.record",
    **dict.fromkeys(("TOKEN_COOKIE", "has_valid_token"), "ccproxy.security"),
    **dict.fromkeys(
        ("AccountInfo", "AccountSet", "PermissionService", "PricingService", "TokenSource"),
        "ccproxy.services",
    ),
    **dict.fromkeys(("SharedState", "StateUnavailable"), "ccproxy.state"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ccproxy.plugins' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
