"""``ccproxy auth login claude``: the OAuth PKCE login, by pasted code or localhost redirect.

The authorize URL is Claude Code's (WIRE.md "Claude OAuth"); the user either pastes the
``code#state`` the callback page shows, or (``--callback``) is redirected to a local server. The
code is exchanged at the token endpoint (JSON body) and the tokens are stored in Claude Code's
credential file with ``TokenManager.store_login``. Nothing here prints or logs a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from ccproxy.auth import (
    AuthError,
    CallbackServer,
    PKCEPair,
    build_authorize_url,
    generate_state,
)
from ccproxy.plugins import AccountInfo, HttpSettings, build_http_client
from ccproxy_plugin_claude.config import CONSOLE_SCOPE, ClaudeOAuthConfig
from ccproxy_plugin_claude.credentials import account_from_reply, build_token_manager, token_client

__all__ = [
    "Authorization",
    "LoginError",
    "callback_login",
    "complete_login",
    "parse_pasted_code",
    "start_authorization",
]

#: Where the localhost redirect of ``--callback`` lands (``http://localhost:<port>/callback``).
CALLBACK_PATH = "/callback"


class LoginError(Exception):
    """The login could not complete; the message says why and holds no secret."""


@dataclass(frozen=True, repr=False)
class Authorization:
    """One login attempt: the URL to open and what the exchange must repeat."""

    url: str
    state: str
    pkce: PKCEPair
    redirect_uri: str


def start_authorization(
    config: ClaudeOAuthConfig,
    *,
    console: bool = False,
    redirect_uri: str | None = None,
    state: str | None = None,
) -> Authorization:
    """A fresh PKCE pair and state, and the authorize URL for a subscription (or Console) login."""
    pkce = PKCEPair.generate()
    state = state or generate_state()
    redirect = redirect_uri or config.redirect_uri
    scopes = list(config.scopes)
    if console and CONSOLE_SCOPE not in scopes:
        scopes.append(CONSOLE_SCOPE)
    url = build_authorize_url(
        config.console_authorize_url if console else config.authorize_url,
        {
            "code": "true",
            "client_id": config.client_id,
            "response_type": "code",
            "redirect_uri": redirect,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
        },
    )
    return Authorization(url=url, state=state, pkce=pkce, redirect_uri=redirect)


def parse_pasted_code(text: str, expected_state: str) -> str:
    """The code from what the user pasted: ``CODE#STATE`` (or the callback URL itself).

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


async def complete_login(
    config: ClaudeOAuthConfig, http_settings: HttpSettings, auth: Authorization, code: str
) -> AccountInfo:
    """Exchange ``code`` at the token endpoint and store the tokens in the credential file."""
    async with build_http_client(http_settings) as http:
        client = token_client(config, http)
        try:
            reply = await client.exchange_code(
                code,
                code_verifier=auth.pkce.verifier,
                redirect_uri=auth.redirect_uri,
                state=auth.state,
            )
            # The file is what is being written, whatever long-lived token is configured.
            file_only = config.model_copy(update={"oauth_token": None})  # nosec B105 # clears the configured token
            manager = build_token_manager(file_only, http, environ={})
            return await manager.store_login(reply, account_id=account_from_reply(reply))
        except AuthError as exc:
            raise LoginError(str(exc)) from None
        except OSError as exc:
            raise LoginError(
                f"cannot write {config.credentials_file}: {exc.strerror or type(exc).__name__}"
            ) from None


async def callback_login(
    config: ClaudeOAuthConfig,
    http_settings: HttpSettings,
    *,
    console: bool,
    wait_seconds: float,
    show: Callable[[Authorization], None],
) -> AccountInfo:
    """Log in through a redirect to ``http://localhost:<port>/callback``.

    ``show`` presents the authorize URL (prints it, opens a browser); the login fails after
    ``wait_seconds`` without a redirect.
    """
    state = generate_state()
    async with CallbackServer(
        expected_state=state, path=CALLBACK_PATH, also_ipv6=True, foreign_state="deliver"
    ) as server:
        auth = start_authorization(
            config, console=console, redirect_uri=server.redirect_uri, state=state
        )
        show(auth)
        try:
            result = await server.wait(wait_seconds)
        except TimeoutError:
            raise LoginError(
                f"no redirect reached {server.redirect_uri} within {wait_seconds:g} s"
            ) from None
    if result.error:
        raise LoginError(f"the authorization server answered {result.error[:64]!r}")
    if result.state != state:
        raise LoginError("the redirect's state does not match this login (not verified)")
    if not result.code:
        raise LoginError("the redirect carried no code")
    code = result.code
    return await complete_login(config, http_settings, auth, code)
