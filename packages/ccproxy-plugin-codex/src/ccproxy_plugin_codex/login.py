"""Logging in to ChatGPT for Codex: the browser (PKCE) flow, the device-code flow, revocation.

**Browser flow.** A local server listens on ``callback_port`` (1455, or ``callback_fallback_port``
when busy); the authorize URL carries PKCE S256, ``state``, the scopes and Codex's own parameters
(``id_token_add_organizations=true``, ``codex_cli_simplified_flow=true``, ``originator``); the
redirect's code is exchanged at ``token_url`` (form-encoded) with the verifier.

**Device flow** (for machines without a browser). The endpoint paths were read from the Codex CLI
binary but the field names are reconstructed from the open-source CLI and could not be verified
against the live service, so every piece is configuration: ``POST
{device_base_url}{device_usercode_path}`` ``{client_id}`` → ``{device_auth_id, user_code,
interval}``; the user enters the code at ``device_verification_url``; ``POST
{device_base_url}{device_token_path}`` ``{device_auth_id, user_code}`` is polled (403/404 while
pending) until it answers ``{authorization_code, code_verifier}``, which is exchanged at
``token_url`` with ``redirect_uri = device_redirect_uri``.

Nothing here prints or logs a code, a verifier or a token.
"""

from __future__ import annotations

import contextlib
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ccproxy.auth import (
    PENDING,
    AuthError,
    CallbackServer,
    Pending,
    PKCEPair,
    TokenEndpointError,
    TokenReply,
    build_authorize_url,
    generate_state,
    poll_until,
)
from ccproxy_plugin_codex.credentials import build_refresh_client

if TYPE_CHECKING:
    from ccproxy_plugin_codex.config import CodexOAuthConfig

__all__ = [
    "DeviceCode",
    "LoginError",
    "authorize_url",
    "browser_login",
    "device_login",
    "revoke_tokens",
]

Echo = Callable[[str], None]
_PENDING_STATUSES = frozenset({403, 404})

#: The redirect path registered with the Codex client id (``http://localhost:1455/auth/callback``).
CALLBACK_PATH = "/auth/callback"


class LoginError(AuthError):
    """A login could not be completed; the message says why (never with a secret)."""


def authorize_url(
    config: CodexOAuthConfig, *, redirect_uri: str, pkce: PKCEPair, state: str
) -> str:
    """The authorize URL the browser opens (parameters as the Codex CLI sends them)."""
    return build_authorize_url(
        config.authorize_url,
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(config.scope_list),
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            "id_token_add_organizations": "true",  # nosec B105 # an authorize URL flag
            "codex_cli_simplified_flow": "true",
            "state": state,
            "originator": config.originator,
        },
    )


async def browser_login(
    config: CodexOAuthConfig,
    http: httpx.AsyncClient,
    *,
    echo: Echo,
    open_browser: bool = True,
) -> TokenReply:
    """Run the PKCE flow with the local callback; returns the token reply of the code exchange."""
    pkce = PKCEPair.generate()
    state = generate_state()
    ports = [config.callback_port, config.callback_fallback_port]
    try:
        server = CallbackServer(
            ports,
            expected_state=state,
            path=CALLBACK_PATH,
            cancel_path="/cancel",
            success_title="Signed in to ChatGPT",
            success_text="ccproxy has your login. You can close this tab.",
        )
        await server.start()
    except OSError as exc:
        raise LoginError(
            f"cannot listen for the login callback: {exc.strerror or exc}. Free the port, set "
            "plugins.oauth_codex.callback_port, or log in with --device"
        ) from None
    try:
        url = authorize_url(config, redirect_uri=server.redirect_uri, pkce=pkce, state=state)
        echo("Open this URL in a browser and sign in to ChatGPT:")
        echo("")
        echo(f"  {url}")
        echo("")
        echo(f"Waiting for the redirect to {server.redirect_uri} ...")
        if open_browser:
            _open(url)
        try:
            result = await server.wait(config.login_timeout_seconds)
        except TimeoutError:
            raise LoginError(
                f"no sign-in within {config.login_timeout_seconds:g} seconds; start again"
            ) from None
        if result.cancelled:
            raise LoginError("the login was cancelled")
        if result.error or not result.code:
            reason = result.error or "no code in the redirect"
            raise LoginError(f"the authorization server refused the login ({reason})")
        client = build_refresh_client(config, http)
        try:
            return await client.exchange_code(
                result.code, code_verifier=pkce.verifier, redirect_uri=server.redirect_uri
            )
        except TokenEndpointError as exc:
            raise LoginError(f"the code exchange failed: {exc}") from None
    finally:
        await server.close()


@dataclass(frozen=True)
class DeviceCode:
    """A device authorization: the id polled with, the code the user types, the interval."""

    device_auth_id: str
    user_code: str
    interval: float


async def device_login(
    config: CodexOAuthConfig, http: httpx.AsyncClient, *, echo: Echo
) -> TokenReply:
    """Run the device-code flow; returns the token reply of the final code exchange."""
    device = await _request_device_code(config, http)
    echo("To sign in to ChatGPT on another device, open:")
    echo("")
    echo(f"  {config.device_verification_url}")
    echo("")
    echo(f"and enter the code:  {device.user_code}")
    echo("")
    echo("Waiting for approval ...")
    interval = (
        config.device_poll_interval_seconds
        if config.device_poll_interval_seconds is not None
        else device.interval
    )
    token_url = config.device_base_url.rstrip("/") + config.device_token_path

    async def poll() -> dict[str, Any] | Pending:
        try:
            response = await http.post(
                token_url,
                json={"device_auth_id": device.device_auth_id, "user_code": device.user_code},
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise LoginError(f"device login: polling failed ({type(exc).__name__})") from None
        if response.status_code in _PENDING_STATUSES:
            return PENDING
        if response.status_code >= 400:
            raise LoginError(
                f"device login refused: the server answered HTTP {response.status_code}"
            )
        payload = _json_object(response)
        if not isinstance(payload.get("authorization_code"), str) or not isinstance(
            payload.get("code_verifier"), str
        ):
            raise LoginError("device login: the approval lacks authorization_code/code_verifier")
        return payload

    try:
        approved = await poll_until(poll, interval, config.device_timeout_seconds)
    except AuthError as exc:
        raise LoginError(str(exc)) from None
    client = build_refresh_client(config, http)
    try:
        return await client.exchange_code(
            approved.value["authorization_code"],
            code_verifier=approved.value["code_verifier"],
            redirect_uri=config.device_redirect_uri,
        )
    except TokenEndpointError as exc:
        raise LoginError(f"the code exchange failed: {exc}") from None


async def _request_device_code(config: CodexOAuthConfig, http: httpx.AsyncClient) -> DeviceCode:
    url = config.device_base_url.rstrip("/") + config.device_usercode_path
    try:
        response = await http.post(
            url, json={"client_id": config.client_id}, headers={"accept": "application/json"}
        )
    except httpx.HTTPError as exc:
        raise LoginError(
            f"device login: {url} could not be reached ({type(exc).__name__})"
        ) from None
    if response.status_code >= 400:
        raise LoginError(f"device login: {url} answered HTTP {response.status_code}")
    payload = _json_object(response)
    device_auth_id, user_code = payload.get("device_auth_id"), payload.get("user_code")
    if not isinstance(device_auth_id, str) or not isinstance(user_code, str):
        raise LoginError("device login: the reply lacks device_auth_id/user_code")
    try:
        interval = float(payload.get("interval") or 5)
    except (TypeError, ValueError):
        interval = 5.0
    return DeviceCode(device_auth_id, user_code, interval)


async def revoke_tokens(
    config: CodexOAuthConfig, http: httpx.AsyncClient, tokens: dict[str, str]
) -> dict[str, str]:
    """Revoke each ``{hint: token}`` at ``revoke_url``, best effort; ``{hint: outcome}``."""
    outcomes: dict[str, str] = {}
    for hint, token in tokens.items():
        try:
            response = await http.post(
                config.revoke_url,
                data={"token": token, "token_type_hint": hint, "client_id": config.client_id},
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            outcomes[hint] = f"not revoked ({type(exc).__name__})"
            continue
        outcomes[hint] = (
            "revoked"
            if response.status_code < 400
            else f"not revoked (HTTP {response.status_code})"
        )
    return outcomes


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise LoginError(f"the server answered HTTP {response.status_code} without JSON") from None
    if not isinstance(payload, dict):
        raise LoginError("the server's answer is not a JSON object")
    return payload


def _open(url: str) -> None:
    with contextlib.suppress(Exception):  # no browser here: the URL is printed anyway
        webbrowser.open(url)
