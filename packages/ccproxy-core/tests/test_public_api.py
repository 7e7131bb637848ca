"""The public API changes only on purpose: these lists are the contract plugin authors rely on."""

from __future__ import annotations

import tomllib
from pathlib import Path

import ccproxy
import ccproxy.plugins

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def test_plugin_api_exports() -> None:
    assert sorted(ccproxy.plugins.__all__) == sorted(
        [
            "COMMANDS_GROUP",
            "CONTEXT_KEYS",
            "ENTRY_POINT_GROUP",
            "HOOK_EVENT_DOCS",
            "AccountInfo",
            "AuthProviderPluginFactory",
            "AuthProviderPluginRuntime",
            "BasePluginRuntime",
            "CoreServices",
            "HealthCheckResult",
            "HealthStatus",
            "Hook",
            "HookContext",
            "HookEvent",
            "HookManager",
            "HookSpec",
            "MiddlewareLayer",
            "MiddlewareSpec",
            "MountSpec",
            "PermissionService",
            "PluginConfigError",
            "PluginContext",
            "PluginFactory",
            "PluginManifest",
            "PluginRecord",
            "PluginRegistry",
            "PluginType",
            "PricingService",
            "ProviderPluginFactory",
            "ProviderPluginRuntime",
            "RouteSpec",
            "Scheduler",
            "SystemPluginFactory",
            "SystemPluginRuntime",
            "TaskSpec",
            "TokenSource",
            "get_plugin_logger",
            "health_result",
            "validate_plugin_config",
        ]
    )
    for name in ccproxy.plugins.__all__:
        assert getattr(ccproxy.plugins, name) is not None


def test_top_level_exports_resolve_lazily() -> None:
    assert sorted(ccproxy.__all__) == [
        "Settings",
        "__version__",
        "create_app",
        "get_plugin_logger",
        "initialize_plugins_startup",
    ]
    for name in ccproxy.__all__:
        assert getattr(ccproxy, name) is not None


def test_version_module_matches_pyproject() -> None:
    pyproject = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == ccproxy.__version__


def test_hook_event_values_are_stable() -> None:
    from ccproxy.plugins import HookEvent

    assert [e.name for e in HookEvent] == [
        "APP_STARTUP",
        "APP_SHUTDOWN",
        "PLUGIN_LOADED",
        "PLUGIN_FAILED",
        "REQUEST_STARTED",
        "PROVIDER_REQUEST_PREPARED",
        "PROVIDER_REQUEST_SENT",
        "PROVIDER_RESPONSE_RECEIVED",
        "PROVIDER_STREAM_START",
        "PROVIDER_STREAM_CHUNK",
        "PROVIDER_STREAM_END",
        "PROVIDER_ERROR",
        "AUTH_TOKEN_REFRESHED",
        "AUTH_FAILED",
        "REQUEST_COMPLETED",
        "REQUEST_FAILED",
    ]
