"""The three ways ``ccproxy auth login`` gets an authorization code, for any :class:`OAuthProvider`.

``CALLBACK``: the browser is redirected to a loopback server; ``PASTE``: the user pastes the
``CODE#STATE`` the provider's page shows; ``DEVICE``: the user approves a code on another device
while the login polls. Each ends with the PKCE code exchange (unless the device grant answers
with the tokens themselves) and the tokens stored in the provider's credential file. Nothing here prints or logs a code, a verifier or a token.
"""

from __future__ import annotations

import contextlib
import functools
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from ccproxy.auth.callback import CallbackServer
from ccproxy.auth.device import PollResult, poll_until
from ccproxy.auth.errors import AuthError, TokenEndpointError
from ccproxy.auth.pkce import PKCEPair, generate_state
from ccproxy.auth.provider import AuthorizationCode, AuthorizeRequest, LoginMethod, OAuthProvider
from ccproxy.auth.tokens import TokenReply

if TYPE_CHECKING:
    import httpx

__all__ = ["LoginError", "LoginUI", "login", "parse_pasted_code"]

PASTE_PROMPT = "Paste the code shown after you authorise (CODE#STATE)"


class LoginError(AuthError):
    """A login could not complete; the message says why and holds no secret."""


@dataclass(frozen=True)
class LoginUI:
    """How a login talks to the person: ``echo`` a line, ``prompt`` for one, open a browser."""

    echo: Callable[[str], None]
    prompt: Callable[[str], str]
    open_browser: bool = True


async def login(
    provider: OAuthProvider[Any],
    config: Any,
    http: httpx.AsyncClient,
    ui: LoginUI,
    *,
    method: LoginMethod,
    options: frozenset[str] = frozenset(),
    timeout: float | None = None,  # noqa: ASYNC109 - a login budget, passed on
    account: str = "default",
) -> dict[str, Any]:
    """Log in with ``method``, store the tokens as ``account`` (``default``: the CLI's own
    file), return the credential's status facts."""
    path = provider.account_path(config, account)
    if provider.read_only(config, path):
        raise LoginError(
            f"the {account!r} account is {provider.shared_with(config, path) or 'another program'}"
            f"'s login in {path}, which ccproxy only reads and never rewrites; log in as another "
            "account with --account NAME"
        )
    wait = timeout if timeout is not None else provider.login_timeout(config, method)
    state: str | None = None
    if method is LoginMethod.DEVICE:
        approved = await _device_code(provider, config, http, ui, wait)
    else:
        pkce, state = PKCEPair.generate(), generate_state()
        if method is LoginMethod.CALLBACK:
            code, redirect = await _callback_code(provider, config, ui, pkce, state, options, wait)
        else:
            redirect = provider.redirect_uri(config)
            request = AuthorizeRequest(redirect, state, pkce, options)
            _present(provider, provider.authorize_url(config, request), ui)
            code = parse_pasted_code(ui.prompt(PASTE_PROMPT), state)
        approved = AuthorizationCode(code, pkce.verifier, redirect)
    if isinstance(approved, TokenReply):
        reply = approved  # the device grant answered with the tokens (RFC 8628 §3.5)
    else:
        try:
            reply = await provider.token_client(config, http).exchange_code(
                approved.code,
                code_verifier=approved.verifier,
                redirect_uri=approved.redirect_uri,
                state=state,
            )
        except TokenEndpointError as exc:
            raise LoginError(f"the code exchange failed: {exc}") from None
    manager = provider.token_manager(config, http, use_static_token=False, account=account)
    try:
        await manager.store_login(reply, account_id=provider.account_from_reply(reply))
    except OSError as exc:
        raise LoginError(
            f"cannot write {manager.file.path}: {exc.strerror or type(exc).__name__}"
        ) from None
    return manager.status()


def parse_pasted_code(text: str, expected_state: str) -> str:
    """The code in what the user pasted: ``CODE#STATE``, or the redirect URL itself.

    Raises :class:`LoginError` when the state is missing or belongs to another login.
    """
    text = text.strip()
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        params = dict(parse_qsl(parts.query))
        code, state = params.get("code", ""), params.get("state") or parts.fragment
    else:
        code, _, state = text.partition("#")
    code, state = code.strip(), state.strip()
    if not code:
        raise LoginError("nothing was pasted; expected CODE#STATE from the authorization page")
    if not state:
        raise LoginError("the pasted text has no '#STATE' part; paste the whole CODE#STATE")
    if state != expected_state:
        raise LoginError(
            "the pasted state does not match this login (a code from another attempt?); "
            "run the login again"
        )
    return code


def _present(provider: OAuthProvider[Any], url: str, ui: LoginUI) -> None:
    ui.echo(f"Open this URL in a browser and log in to {provider.display_name}:")
    ui.echo("")
    ui.echo(url)
    ui.echo("")
    if ui.open_browser:
        opened = False
        with contextlib.suppress(Exception):  # no browser here: the URL is printed anyway
            opened = webbrowser.open(url)
        if opened:
            ui.echo("(A browser window was opened with it.)")


async def _callback_code(
    provider: OAuthProvider[Any],
    config: Any,
    ui: LoginUI,
    pkce: PKCEPair,
    state: str,
    options: frozenset[str],
    wait: float,
) -> tuple[str, str]:
    """The code and redirect URI the loopback server received."""
    spec = provider.callback(config)
    server = CallbackServer(
        spec.ports,
        expected_state=state,
        path=spec.path,
        also_ipv6=True,
        cancel_path="/cancel",
        foreign_state=spec.foreign_state,
    )
    try:
        await server.start()
    except OSError as exc:
        others = [f"--{m.value}" for m in provider.login_methods if m is not LoginMethod.CALLBACK]
        alternative = f", or log in with {' or '.join(others)}" if others else ""
        raise LoginError(
            f"cannot listen for the login callback: {exc.strerror or exc}. Free the port"
            f"{alternative}"
        ) from None
    try:
        request = AuthorizeRequest(server.redirect_uri, state, pkce, options)
        _present(provider, provider.authorize_url(config, request), ui)
        ui.echo(f"Waiting up to {wait:g} s for the redirect to {server.redirect_uri} ...")
        try:
            result = await server.wait(wait)
        except TimeoutError:
            raise LoginError(
                f"no redirect reached {server.redirect_uri} within {wait:g} s"
            ) from None
    finally:
        await server.close()
    if result.cancelled:
        raise LoginError("the login was cancelled")
    if result.error:
        raise LoginError(f"the authorization server answered {result.error[:64]!r}")
    if result.state != state:
        raise LoginError("the redirect's state does not match this login (not verified)")
    if not result.code:
        raise LoginError("the redirect carried no code")
    return result.code, server.redirect_uri


async def _device_code(
    provider: OAuthProvider[Any], config: Any, http: httpx.AsyncClient, ui: LoginUI, wait: float
) -> AuthorizationCode | TokenReply:
    device = await provider.start_device_login(config, http)
    ui.echo(f"To log in to {provider.display_name} on another device, open:")
    ui.echo("")
    ui.echo(f"  {device.verification_url}")
    ui.echo("")
    ui.echo(f"and enter the code:  {device.user_code}")
    ui.echo("")
    ui.echo("Waiting for approval ...")
    poll = functools.partial(provider.poll_device_login, config, http, device)
    approved: PollResult[AuthorizationCode | TokenReply] = await poll_until(
        poll, device.interval, wait
    )
    return approved.value
