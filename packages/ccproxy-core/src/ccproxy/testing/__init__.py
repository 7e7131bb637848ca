"""Helpers for testing ccproxy and its plugins: apps with start-up run, fake entry points,
free loopback ports and live uvicorn servers.

Exports are lazy: the pytest plugin imports this package for every test session.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccproxy.testing.apps import app_client, started_app
    from ccproxy.testing.entry_points import FakeDistribution, FakeEntryPoint, fake_entry_point
    from ccproxy.testing.fakes import (
        DEFAULT_COPILOT_MODELS,
        AccountWindows,
        FakeAnthropic,
        FakeClaudeOAuth,
        FakeCodex,
        FakeCodexOAuth,
        FakeCopilot,
        Reply,
        ToolCallSpec,
    )
    from ccproxy.testing.network import free_port
    from ccproxy.testing.server import LiveServer

__all__ = [
    "DEFAULT_COPILOT_MODELS",
    "AccountWindows",
    "FakeAnthropic",
    "FakeClaudeOAuth",
    "FakeCodex",
    "FakeCodexOAuth",
    "FakeCopilot",
    "FakeDistribution",
    "FakeEntryPoint",
    "LiveServer",
    "Reply",
    "ToolCallSpec",
    "app_client",
    "fake_entry_point",
    "free_port",
    "started_app",
]

_LAZY = {
    "app_client": "ccproxy.testing.apps",
    "started_app": "ccproxy.testing.apps",
    "FakeDistribution": "ccproxy.testing.entry_points",
    "FakeEntryPoint": "ccproxy.testing.entry_points",
    "fake_entry_point": "ccproxy.testing.entry_points",
    "free_port": "ccproxy.testing.network",
    "LiveServer": "ccproxy.testing.server",
    "AccountWindows": "ccproxy.testing.fakes",
    "FakeAnthropic": "ccproxy.testing.fakes",
    "FakeClaudeOAuth": "ccproxy.testing.fakes",
    "FakeCodex": "ccproxy.testing.fakes",
    "FakeCodexOAuth": "ccproxy.testing.fakes",
    "FakeCopilot": "ccproxy.testing.fakes",
    "DEFAULT_COPILOT_MODELS": "ccproxy.testing.fakes",
    "Reply": "ccproxy.testing.fakes",
    "ToolCallSpec": "ccproxy.testing.fakes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ccproxy.testing' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
