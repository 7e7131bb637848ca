"""The request store alone: rules, states, retention and bounds (a fake clock, no server)."""

from __future__ import annotations

import asyncio

import pytest

import ccproxy_plugin_permissions
from ccproxy_plugin_permissions.config import PermissionsConfig, Rule
from ccproxy_plugin_permissions.rules import match_rules
from ccproxy_plugin_permissions.store import (
    AlreadyDecidedError,
    PermissionStore,
    UnknownRequestError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_public_api_is_pinned() -> None:
    assert sorted(ccproxy_plugin_permissions.__all__) == [
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


def test_rules_match_whole_values_first_match_wins() -> None:
    rules = [
        Rule(tool="Bash", field="command", match="rm -rf*", action="deny"),
        Rule(tool="Bash", field="command", match="ls", action="allow"),
        Rule(tool="mcp__*", action="allow"),
        Rule(tool="Edit", field="opts", match='{"force":true}', action="deny"),
    ]
    assert match_rules(rules, "Bash", {"command": "rm -rf /"}).index == 0  # type: ignore[union-attr]
    assert match_rules(rules, "Bash", {"command": "ls"}).index == 1  # type: ignore[union-attr]
    assert match_rules(rules, "Bash", {"command": "ls -la"}) is None
    assert match_rules(rules, "Bash", {"cmd": "rm -rf /"}) is None
    assert match_rules(rules, "bash", {"command": "ls"}) is None  # case-sensitive
    assert match_rules(rules, "mcp__x__y", {}).index == 2  # type: ignore[union-attr]
    assert match_rules(rules, "Edit", {"opts": {"force": True}}).index == 3  # type: ignore[union-attr]


async def test_decided_requests_are_dropped_after_retention() -> None:
    clock = Clock()
    store = PermissionStore(PermissionsConfig(retention_seconds=60), clock=clock)
    call = asyncio.create_task(store.check("Bash", {"n": 1}))
    await asyncio.sleep(0)
    [request] = store.list_requests("pending")
    store.decide(request.id, allow=True)
    assert await call == {"behavior": "allow", "updatedInput": {"n": 1}}
    with pytest.raises(AlreadyDecidedError):
        store.decide(request.id, allow=False)
    clock.now += 59
    assert store.get(request.id).status == "allowed"
    clock.now += 2
    with pytest.raises(UnknownRequestError):
        store.get(request.id)


async def test_memory_is_bounded() -> None:
    store = PermissionStore(PermissionsConfig(max_retained=3, max_pending=5), clock=Clock())
    calls = [asyncio.create_task(store.check("T", {"n": n})) for n in range(6)]
    await asyncio.sleep(0)
    assert store.pending_count() == 5
    overflow = await calls[5]
    assert overflow["behavior"] == "deny"
    assert "Too many pending" in overflow["message"]
    for request in store.list_requests("pending"):
        store.decide(request.id, allow=False)
    await asyncio.gather(*calls[:5])
    store.prune()
    kept = store.list_requests()
    assert [r.input["n"] for r in kept] == [2, 3, 4]  # the oldest decided ones went first


async def test_close_denies_pending_and_ends_subscriptions() -> None:
    store = PermissionStore(PermissionsConfig(), clock=Clock())
    call = asyncio.create_task(store.check("T", {}))
    await asyncio.sleep(0)
    queue, replay = store.subscribe()
    assert [e.type for e in replay] == ["created"]
    store.close()
    assert (await call)["behavior"] == "deny"
    expired = await queue.get()
    assert expired is not None
    assert expired.type == "expired"
    assert await queue.get() is None
    assert (await store.check("T", {}))["message"] == "ccproxy is shutting down."


async def test_cancelled_caller_expires_its_request() -> None:
    store = PermissionStore(PermissionsConfig(), clock=Clock())
    call = asyncio.create_task(store.check("T", {}))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    [request] = store.list_requests()
    assert request.status == "expired"
