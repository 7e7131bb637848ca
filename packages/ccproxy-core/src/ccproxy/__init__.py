"""ccproxy: use Claude and ChatGPT subscriptions through the standard LLM APIs.

Exports are lazy (PEP 562) so that ``ccproxy --version`` and ``ccproxy --help`` import neither
FastAPI, httpx nor any plugin.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ccproxy._version import __version__

if TYPE_CHECKING:
    from ccproxy.app import create_app, initialize_plugins_startup
    from ccproxy.config import Settings
    from ccproxy.logging import get_plugin_logger

__all__ = [
    "Settings",
    "__version__",
    "create_app",
    "get_plugin_logger",
    "initialize_plugins_startup",
]

_LAZY: dict[str, str] = {
    "create_app": "ccproxy.app",
    "initialize_plugins_startup": "ccproxy.app",
    "Settings": "ccproxy.config",
    "get_plugin_logger": "ccproxy.logging",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ccproxy' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
