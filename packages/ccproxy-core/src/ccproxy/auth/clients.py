"""Token endpoint clients for Claude (JSON bodies) and Codex (form-encoded bodies).

Both take the shared ``httpx.AsyncClient`` (tests pass one on an ``ASGITransport`` to a fake)
plus the endpoint facts from configuration. Failures raise
:class:`~ccproxy.auth.errors.RefreshError` / :class:`~ccproxy.auth.errors.TokenEndpointError`
carrying the HTTP status and OAuth error code only: never a token, and never the response body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from ccproxy.auth.errors import RefreshError, TokenEndpointError
from ccproxy.auth.tokens import TokenReply

__all__ = [
    "ClaudeRefreshClient",
    "CodexRefreshClient",
    "OAuthTokenClient",
]

DEFAULT_TIMEOUT: Final = 30.0


def _error_code(response: httpx.Response) -> str | None:
    """The OAuth ``error`` (``{"error": "invalid_grant"}``) or Codex ``{"error": {"code": ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("code") or error.get("type")
    return error if isinstance(error, str) else None


class OAuthTokenClient:
    """What both providers' clients share: POST to the token endpoint, parse, map errors.

    Subclasses choose the body encoding in :meth:`_post`.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        scopes: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self.scopes = tuple(scopes) if scopes is not None else None
        self._timeout = timeout
        self._headers = dict(headers or {})

    async def refresh(self, refresh_token: str) -> TokenReply:
        """``grant_type=refresh_token``; raises :class:`RefreshError` on any failure."""
        body: dict[str, str] = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }
        if self.scopes:
            body["scope"] = " ".join(self.scopes)
        return await self._call(body, RefreshError)

    async def exchange_code(
        self,
        code: str,
        *,
        code_verifier: str,
        redirect_uri: str,
        state: str | None = None,
    ) -> TokenReply:
        """``grant_type=authorization_code`` (PKCE); raises :class:`TokenEndpointError`."""
        body: dict[str, str] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": code_verifier,
        }
        if state is not None:
            body["state"] = state
        return await self._call(body, TokenEndpointError)

    async def _call(self, body: dict[str, str], error: type[TokenEndpointError]) -> TokenReply:
        try:
            response = await self._post(body)
        except httpx.HTTPError as exc:
            # The exception text may name the URL; its type says enough and names nothing else.
            raise error(None, "network_error", reason=type(exc).__name__) from None
        if response.status_code >= 400:
            raise error(response.status_code, _error_code(response))
        try:
            payload: Any = response.json()
        except ValueError:
            raise error(
                response.status_code, "invalid_response", reason="the body is not JSON"
            ) from None
        return TokenReply.from_json(payload, status=response.status_code, error=error)

    async def _post(self, body: dict[str, str]) -> httpx.Response:
        raise NotImplementedError


class ClaudeRefreshClient(OAuthTokenClient):
    """Claude's token endpoint (``POST .../v1/oauth/token``), JSON bodies.

    A refresh sends ``grant_type``, ``refresh_token`` and ``client_id`` (and ``scope`` only when
    ``scopes`` is given); a code exchange adds ``code``, ``redirect_uri``, ``code_verifier`` and
    ``state``.
    """

    async def _post(self, body: dict[str, str]) -> httpx.Response:
        headers = {"accept": "application/json", **self._headers}
        return await self._http.post(
            self.token_url, json=body, headers=headers, timeout=self._timeout
        )


class CodexRefreshClient(OAuthTokenClient):
    """ChatGPT's token endpoint (``POST https://auth.openai.com/oauth/token``), form-encoded.

    A refresh sends ``grant_type``, ``refresh_token``, ``client_id`` and ``scope`` (pass the
    scopes from configuration).
    """

    async def _post(self, body: dict[str, str]) -> httpx.Response:
        headers = {"accept": "application/json", **self._headers}
        return await self._http.post(
            self.token_url, data=body, headers=headers, timeout=self._timeout
        )
