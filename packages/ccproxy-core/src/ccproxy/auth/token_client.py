"""The OAuth token endpoint client: code exchange and refresh, for any provider.

What differs between providers is configuration: the body encoding (``"json"`` or ``"form"``),
whether a refresh names the scopes, whether a code exchange repeats ``state``, extra headers.
Failures raise :class:`~ccproxy.auth.errors.RefreshError` / ``TokenEndpointError`` carrying the
HTTP status and OAuth error code only: never a token, and never the response body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from ccproxy.auth.errors import RefreshError, TokenEndpointError
from ccproxy.auth.tokens import TokenReply

__all__ = ["BodyEncoding", "OAuthTokenClient"]

#: How a request body is sent: a JSON object or ``application/x-www-form-urlencoded``.
BodyEncoding = Literal["json", "form"]

DEFAULT_TIMEOUT: Final = 30.0


def _error_code(response: httpx.Response) -> str | None:
    """The OAuth ``error`` (``{"error": "invalid_grant"}``) or Codex ``{"error": {"code": ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("code") or error.get("type")
    return error if isinstance(error, str) else None


class OAuthTokenClient:
    """POSTs ``grant_type=refresh_token`` and ``authorization_code`` requests to ``token_url``.

    ``body`` chooses the encoding; ``scopes``, when given, are sent (space-separated) with a
    refresh; ``send_state`` repeats the login's ``state`` in the code exchange (Claude does).
    It satisfies :class:`~ccproxy.auth.RefreshClient`.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        body: BodyEncoding = "form",
        scopes: Sequence[str] | None = None,
        send_state: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self.body = body
        self.scopes = tuple(scopes) if scopes is not None else None
        self.send_state = send_state
        self._timeout = timeout
        self._headers = {"accept": "application/json", **(headers or {})}

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
        """``grant_type=authorization_code`` (PKCE); raises :class:`TokenEndpointError`.

        ``state`` is sent only when the client was built with ``send_state``.
        """
        body: dict[str, str] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": code_verifier,
        }
        if state is not None and self.send_state:
            body["state"] = state
        return await self._call(body, TokenEndpointError)

    async def _call(self, body: dict[str, str], error: type[TokenEndpointError]) -> TokenReply:
        encoded: dict[str, Any] = {"json": body} if self.body == "json" else {"data": body}
        try:
            response = await self._http.post(
                self.token_url, headers=self._headers, timeout=self._timeout, **encoded
            )
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
