"""The public plugin API: everything a plugin author imports comes from here."""

from ccproxy.hooks import HOOK_EVENT_DOCS, Hook, HookContext, HookEvent, HookManager
from ccproxy.logging import get_plugin_logger
from ccproxy.plugins.context import CONTEXT_KEYS, PluginContext
from ccproxy.plugins.core_services import CoreServices
from ccproxy.plugins.discovery import COMMANDS_GROUP, ENTRY_POINT_GROUP
from ccproxy.plugins.factory import (
    AuthProviderPluginFactory,
    PluginFactory,
    ProviderPluginFactory,
    SystemPluginFactory,
)
from ccproxy.plugins.health import HealthCheckResult, HealthStatus, health_result
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
from ccproxy.plugins.registry import PluginRecord, PluginRegistry
from ccproxy.plugins.runtime import (
    AuthProviderPluginRuntime,
    BasePluginRuntime,
    PluginType,
    ProviderPluginRuntime,
    SystemPluginRuntime,
)
from ccproxy.plugins.scheduler import Scheduler
from ccproxy.services import AccountInfo, PermissionService, PricingService, TokenSource

__all__ = [
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
