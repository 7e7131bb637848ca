"""``ccproxy auth login|status|refresh|logout codex`` (the ``auth.codex`` command entry point).

Only typer is imported at module level; each command imports what it needs when it runs.
Every command reads configuration like ``ccproxy serve`` does (``--config``, ``--set``, the
environment, the TOML file), so ``plugins.oauth_codex.*`` applies here too. No command prints a
token, a code or a verifier.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccproxy.plugins.cli import ConfigOption, JsonOption, ServerPortOption, SetOption

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from pathlib import Path

    import httpx

    from ccproxy.auth import TokenManager
    from ccproxy.plugins import Settings
    from ccproxy_plugin_codex.config import CodexOAuthConfig

__all__ = ["app"]

app = typer.Typer(
    name="codex",
    help="ChatGPT (Codex) credentials: the Codex CLI's ~/.codex/auth.json.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"ccproxy: {message}", err=True)
    return typer.Exit(code)


def _load(config_file: Path | None, sets: list[str] | None) -> tuple[Settings, CodexOAuthConfig]:
    from ccproxy.plugins import PluginConfigError, validate_plugin_config
    from ccproxy.plugins.cli import load_cli_settings
    from ccproxy_plugin_codex.config import CodexOAuthConfig
    from ccproxy_plugin_codex.credentials import AUTH_PLUGIN_NAME

    settings = load_cli_settings(config=config_file, sets=sets)
    try:
        oauth = validate_plugin_config(
            AUTH_PLUGIN_NAME,
            CodexOAuthConfig,
            settings.plugin_table(AUTH_PLUGIN_NAME),
            sources=settings.config_sources,
        )
    except PluginConfigError as exc:
        raise _fail(f"configuration error: {exc}", 2) from None
    assert isinstance(oauth, CodexOAuthConfig)
    return settings, oauth


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


def _http(settings: Settings) -> httpx.AsyncClient:
    from ccproxy.plugins import build_http_client

    return build_http_client(settings.http)


def _manager(oauth: CodexOAuthConfig, http: httpx.AsyncClient) -> TokenManager:
    from ccproxy_plugin_codex.credentials import build_token_manager

    return build_token_manager(oauth, http)


@app.command()
def login(
    device: Annotated[
        bool,
        typer.Option(
            "--device",
            help="Use the device-code flow (for machines without a browser). Its endpoints are "
            "configurable: they could not be verified against the live service.",
        ),
    ] = False,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser", help="Print the sign-in URL instead of opening a browser."),
    ] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Sign in to ChatGPT and store the tokens in the Codex CLI's auth.json."""
    settings, oauth = _load(config, set_)
    from ccproxy.auth import AuthError
    from ccproxy_plugin_codex.login import browser_login, device_login

    async def run() -> dict[str, Any]:
        async with _http(settings) as http:
            if device:
                reply = await device_login(oauth, http, echo=typer.echo)
            else:
                reply = await browser_login(
                    oauth, http, echo=typer.echo, open_browser=not no_browser
                )
            manager = _manager(oauth, http)
            await manager.store_login(reply)
            return manager.status()

    try:
        status = _run(run())
    except AuthError as exc:
        raise _fail(f"login failed: {exc}") from None
    except KeyboardInterrupt:
        raise _fail("login interrupted", 130) from None
    typer.echo("")
    typer.echo(
        f"Logged in to ChatGPT: account {status.get('account_id') or 'unknown'}"
        f" (plan {status.get('plan') or 'unknown'})."
    )
    typer.echo(f"Credentials saved to {status['path']} (shared with the Codex CLI).")


@app.command()
def status(
    port: ServerPortOption = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Show the Codex credential (file, account, plan, expiry) and the last usage windows the
    running server saw (found at server.host:server.port, or --port)."""
    settings, oauth = _load(config, set_)
    from ccproxy.plugins.cli import ServerAnswer, query_server
    from ccproxy_plugin_codex.credentials import AUTH_PLUGIN_NAME, STATUS_PATH
    from ccproxy_plugin_codex.status_text import render_status

    async def run() -> tuple[dict[str, Any], ServerAnswer]:
        async with _http(settings) as http:
            local = _manager(oauth, http).status()
        return local, await query_server(settings, STATUS_PATH, plugin=AUTH_PLUGIN_NAME, port=port)

    local, answer = _run(run())
    if json_output:
        body = {"credentials": local, "server": answer.to_json()}
        typer.echo(json.dumps(body, indent=2, default=str))
    else:
        typer.echo(render_status(local, answer))
    if not local.get("has_credentials"):
        raise typer.Exit(1)


@app.command()
def refresh(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Refresh the access token now (the new tokens go to auth.json)."""
    settings, oauth = _load(config, set_)
    from ccproxy.auth import AuthError

    async def run() -> dict[str, Any]:
        async with _http(settings) as http:
            manager = _manager(oauth, http)
            await manager.refresh(None)
            return manager.status()

    from ccproxy.plugins.cli import credential_lines

    try:
        status = _run(run())
    except AuthError as exc:
        raise _fail(f"refresh failed: {exc}") from None
    typer.echo("Refreshed the Codex (ChatGPT) access token.")
    for line in credential_lines(
        "Codex (ChatGPT)", status, login_command="ccproxy auth login codex"
    ):
        typer.echo(line)


@app.command()
def logout(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Revoke the tokens (best effort) and remove them from auth.json, keeping its other keys."""
    settings, oauth = _load(config, set_)
    from ccproxy.auth import CredentialError, CredentialFile
    from ccproxy_plugin_codex.login import revoke_tokens

    file = CredentialFile(oauth.credentials_path)
    try:
        data = file.read()
    except CredentialError as exc:
        raise _fail(str(exc)) from None
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict):
        typer.echo(f"No Codex tokens stored in {file.path}; nothing to remove.")
        return
    to_revoke = {
        hint: value
        for hint, value in (
            ("refresh_token", tokens.get("refresh_token")),
            ("access_token", tokens.get("access_token")),
        )
        if isinstance(value, str) and value
    }

    async def run() -> dict[str, str]:
        async with _http(settings) as http:
            outcomes = await revoke_tokens(oauth, http, to_revoke)
        await file.update(lambda current: {k: v for k, v in current.items() if k != "tokens"})
        return outcomes

    try:
        outcomes = _run(run())
    except (CredentialError, OSError) as exc:
        raise _fail(f"could not update {file.path}: {exc}") from None
    for hint, outcome in outcomes.items():
        typer.echo(f"{hint.replace('_', ' ')}: {outcome} at {oauth.revoke_url}")
    typer.echo(
        f"Removed the 'tokens' key from {file.path}; its other keys were kept. The Codex CLI "
        "reads this file too, so it is logged out as well."
    )
