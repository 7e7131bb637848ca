"""ccproxy-plugin-permissions: approve Claude Code's tool calls from a terminal, a browser or
an API. The plugin is the MCP tool Claude Code's ``--permission-prompt-tool`` calls."""

from ccproxy_plugin_permissions._version import __version__
from ccproxy_plugin_permissions.config import PermissionsConfig, Rule
from ccproxy_plugin_permissions.plugin import PermissionsFactory, PermissionsRuntime, factory
from ccproxy_plugin_permissions.store import (
    AlreadyDecidedError,
    PermissionRequest,
    PermissionStore,
    UnknownRequestError,
)

__all__ = [
    "AlreadyDecidedError",
    "PermissionRequest",
    "PermissionStore",
    "PermissionsConfig",
    "PermissionsFactory",
    "PermissionsRuntime",
    "Rule",
    "UnknownRequestError",
    "__version__",
    "factory",
]
