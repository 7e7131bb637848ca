"""IETF health check results (draft-inadarei-api-health-check) and their aggregation."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "HealthCheckResult",
    "HealthStatus",
    "health_result",
    "worst_status",
]

HealthStatus = Literal["pass", "warn", "fail"]

_SEVERITY: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}  # nosec B105 # a health status name, not a secret


class HealthCheckResult(TypedDict, total=False):
    """One component's health: ``status`` is ``pass``, ``warn`` (degraded but serving) or ``fail``."""

    status: HealthStatus
    componentId: str
    componentType: str
    version: str
    details: dict[str, Any]
    output: str
    time: str


def health_result(
    status: HealthStatus,
    *,
    component_id: str,
    component_type: str = "plugin",
    version: str | None = None,
    output: str | None = None,
    details: dict[str, Any] | None = None,
) -> HealthCheckResult:
    """Build a health result; ``output`` should say what is wrong for ``warn`` and ``fail``."""
    result: HealthCheckResult = {
        "status": status,
        "componentId": component_id,
        "componentType": component_type,
    }
    if version is not None:
        result["version"] = version
    if output:
        result["output"] = output
    if details:
        result["details"] = details
    return result


def worst_status(statuses: list[HealthStatus] | tuple[HealthStatus, ...]) -> HealthStatus:
    """The most severe of ``statuses``; ``pass`` for none."""
    worst: HealthStatus = "pass"
    for status in statuses:
        if _SEVERITY.get(status, 2) > _SEVERITY[worst]:
            worst = status if status in _SEVERITY else "fail"
    return worst
