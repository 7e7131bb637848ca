"""Start-up order from the services plugins provide and require."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccproxy.plugins.manifest import PluginManifest

__all__ = ["OrderResult", "resolve_order"]


@dataclass
class OrderResult:
    """Plugins in start-up order, and those that cannot start with the reason."""

    order: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def resolve_order(manifests: Mapping[str, PluginManifest]) -> OrderResult:
    """Order plugins so that every provider starts before its consumers.

    Hard ``requires`` that no plugin provides skip the consumer (transitively). Ties break by
    name. A cycle of hard requirements skips every plugin on it; a cycle that only optional
    requirements close is broken by starting the alphabetically first ready plugin.
    """
    result = OrderResult()
    active = dict(manifests)

    providers: dict[str, str] = {}
    for name in sorted(active):
        for service in active[name].provides:
            if service in providers:
                result.skipped[name] = (
                    f"provides service {service!r}, already provided by plugin {providers[service]!r}"
                )
                break
        else:
            for service in active[name].provides:
                providers[service] = name
    for name in result.skipped:
        active.pop(name, None)

    # Drop plugins whose hard requirements are unmet, until nothing changes.
    changed = True
    while changed:
        changed = False
        for name in sorted(active):
            for service in active[name].requires:
                provider = providers.get(service)
                if provider is None or provider not in active:
                    if provider is None:
                        reason = f"requires service {service!r}, which no loaded plugin provides"
                    else:
                        reason = f"requires service {service!r} from plugin {provider!r}, which cannot start"
                    result.skipped[name] = reason
                    del active[name]
                    changed = True
                    break

    hard: dict[str, set[str]] = {name: set() for name in active}  # name -> plugins it waits for
    soft: dict[str, set[str]] = {name: set() for name in active}
    for name, manifest in active.items():
        for service in manifest.requires:
            provider = providers[service]
            if provider != name:
                hard[name].add(provider)
        for service in manifest.optional_requires:
            provider = providers.get(service)
            if provider is not None and provider in active and provider != name:
                soft[name].add(provider)

    started: set[str] = set()
    remaining = set(active)
    while remaining:
        ready = [n for n in remaining if (hard[n] | soft[n]) <= started]
        if not ready:
            # Only optional edges may be broken.
            ready = [n for n in remaining if hard[n] <= started]
            if not ready:
                break
            ready = [min(ready)]
        heap = list(ready)
        heapq.heapify(heap)
        name = heapq.heappop(heap)
        result.order.append(name)
        started.add(name)
        remaining.discard(name)

    if remaining:
        cycle_members = _hard_cycle_members(remaining, hard)
        for name in sorted(remaining):
            if name in cycle_members:
                result.skipped[name] = f"dependency cycle: {cycle_members[name]}"
            else:
                result.skipped[name] = "requires a plugin that is part of a dependency cycle"
    return result


def _hard_cycle_members(nodes: set[str], hard: Mapping[str, set[str]]) -> dict[str, str]:
    """Members of hard-requirement cycles among ``nodes``, each with a readable cycle path."""
    members: dict[str, str] = {}
    for start in sorted(nodes):
        path = _find_cycle(start, nodes, hard)
        if path is not None:
            members[start] = " -> ".join(path)
    return members


def _find_cycle(start: str, nodes: set[str], hard: Mapping[str, set[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in sorted(hard[node] & nodes, reverse=True):
            if dep == start:
                return [*path, start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return None
