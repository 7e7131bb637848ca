"""A small synchronous client for the running server's permissions API (used by the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from ccproxy.plugins import Settings

__all__ = ["ApiError", "PermissionsClient", "server_url"]


class ApiError(RuntimeError):
    """The server answered with an error (or could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def server_url(settings: Settings) -> str:
    """The base URL of the server ``settings`` describe (a wildcard bind means loopback)."""
    host = settings.server.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # nosec B104 # maps a wildcard host to loopback; binds nothing
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{settings.server.port}"


class PermissionsClient:
    """Calls ``/permissions/api/*`` with the configured token."""

    def __init__(
        self, base_url: str, token: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"accept": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=None),
            trust_env=False,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> PermissionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                f"could not reach ccproxy at {self.base_url} ({type(exc).__name__}: {exc}); "
                "is it running?"
            ) from None
        if response.status_code >= 400:
            raise ApiError(_error_text(response), response.status_code)
        return response.json()

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        """Requests known to the server, optionally of one status."""
        params = {"status": status} if status else None
        return list(self._request("GET", "/permissions/api/requests", params=params)["requests"])

    def get(self, request_id: str) -> dict[str, Any]:
        """One request."""
        return dict(self._request("GET", f"/permissions/api/requests/{request_id}"))

    def decide(
        self,
        request_id: str,
        *,
        allow: bool,
        message: str | None = None,
        updated_input: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Allow or deny a pending request."""
        body: dict[str, Any] = {"allow": allow}
        if message is not None:
            body["message"] = message
        if updated_input is not None:
            body["updated_input"] = updated_input
        return dict(
            self._request("POST", f"/permissions/api/requests/{request_id}/decision", json=body)
        )

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(type, request)`` from the SSE feed, pending requests first, until it ends."""
        try:
            with self._client.stream("GET", "/permissions/api/events") as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(_error_text(response), response.status_code)
                kind: str | None = None
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line:
                        if kind is not None and data:
                            yield kind, json.loads("\n".join(data))
                        kind, data = None, []
        except httpx.HTTPError as exc:
            raise ApiError(
                f"lost the event stream from {self.base_url} ({type(exc).__name__}: {exc})"
            ) from None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("detail")
    return f"HTTP {response.status_code}: {message or body}"
