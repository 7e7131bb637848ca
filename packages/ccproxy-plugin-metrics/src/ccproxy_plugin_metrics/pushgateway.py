"""Pushing the app's metrics to a Prometheus Pushgateway (off unless a URL is configured).

Each push is ``PUT <url>/metrics/job/<job>`` with the text exposition: PUT replaces the group,
so series that disappeared here disappear there. The shared HTTP client sends it; a failure
raises, and the scheduler backs off and logs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx
    from prometheus_client import CollectorRegistry

__all__ = ["PUSH_CONTENT_TYPE", "PUSH_TIMEOUT_SECONDS", "PushgatewayError", "push", "push_url"]

#: The text exposition format every Pushgateway accepts.
PUSH_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Longest a push may take before it counts as failed.
PUSH_TIMEOUT_SECONDS: Final = 30.0


class PushgatewayError(RuntimeError):
    """The Pushgateway answered with an error status."""


def push_url(base_url: str, job: str) -> str:
    """``<base_url>/metrics/job/<job>``, the job percent-encoded."""
    return f"{base_url.rstrip('/')}/metrics/job/{quote(job, safe='')}"


async def push(
    client: httpx.AsyncClient,
    registry: CollectorRegistry,
    *,
    base_url: str,
    job: str,
    wait_seconds: float = PUSH_TIMEOUT_SECONDS,
) -> None:
    """Push ``registry`` once; raises on a network error, after ``wait_seconds`` or on a non-2xx answer."""
    from prometheus_client import generate_latest

    url = push_url(base_url, job)
    body = generate_latest(registry)
    response = await asyncio.wait_for(
        client.put(url, content=body, headers={"content-type": PUSH_CONTENT_TYPE}), wait_seconds
    )
    if not response.is_success:
        raise PushgatewayError(
            f"Pushgateway {url} answered {response.status_code}: {response.text[:200]}"
        )
