"""``ccproxy auth login|status|refresh|logout claude`` (entry point ``auth.claude``).

Module-level imports stay light (typer): ``ccproxy --help`` and the auth dispatcher import this
module; httpx, pydantic and the plugin's own modules are imported inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccproxy.plugins.cli import (
    ConfigOption,
    JsonOption,
    ServerPortOption,
    SetOption,
    load_cli_settings,
)

if TYPE_CHECKING:
    from ccproxy.plugins import Settings
    from ccproxy_plugin_claude.config import ClaudeOAuthConfig
    from ccproxy_plugin_claude.login import Authorization

__all__ = ["app"]

app = typer.Typer(
    name="claude",
    help="Claude credentials for ccproxy, kept in Claude Code's own credential file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
)

_PLUGIN = "oauth_claude"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"ccproxy: {message}", err=True)
    return typer.Exit(code)


def _load(config: Any, sets: list[str] | None) -> tuple[Settings, ClaudeOAuthConfig]:
    from ccproxy.plugins import PluginConfigError, validate_plugin_config
    from ccproxy_plugin_claude.config import ClaudeOAuthConfig

    settings = load_cli_settings(config=config, sets=sets)
    try:
        validated = validate_plugin_config(
            _PLUGIN,
            ClaudeOAuthConfig,
            settings.plugin_table(_PLUGIN),
            sources=settings.config_sources,
        )
    except PluginConfigError as exc:
        raise _fail(f"configuration error: {exc}", 2) from None
    assert isinstance(validated, ClaudeOAuthConfig)
    return settings, validated


def _static_note(oauth: ClaudeOAuthConfig) -> str | None:
    from ccproxy_plugin_claude.credentials import static_token

    token, source = static_token(oauth)
    if token is None:
        return None
    return (
        f"Note: a long-lived token is configured ({source.partition(':')[2]}); "
        "ccproxy uses it instead of the credential file while it is set."
    )


def _present(auth: Authorization, *, console: bool, browser: bool) -> None:
    kind = "Claude Console account" if console else "Claude account (Pro/Max subscription)"
    typer.echo(f"Open this URL in a browser and log in to your {kind}:")
    typer.echo("")
    typer.echo(auth.url)
    typer.echo("")
    if browser:
        import webbrowser

        try:
            opened = webbrowser.open(auth.url)
        except Exception:
            opened = False
        if opened:
            typer.echo("(A browser window was opened with it.)")


@app.command()
def login(
    console: Annotated[
        bool,
        typer.Option(
            "--console", help="Log in with a Claude Console account instead of a subscription."
        ),
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL; do not open a browser.")
    ] = False,
    callback: Annotated[
        bool,
        typer.Option(
            "--callback",
            help="Receive the redirect on a local server (http://localhost:<port>/callback) "
            "instead of pasting CODE#STATE.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Seconds to wait for the --callback redirect."),
    ] = 300.0,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Log in to Claude (OAuth PKCE) and store the tokens in Claude Code's credential file."""
    import asyncio

    from ccproxy_plugin_claude.login import (
        LoginError,
        callback_login,
        complete_login,
        parse_pasted_code,
        start_authorization,
    )

    settings, oauth = _load(config, set_)

    def show(auth: Authorization) -> None:
        _present(auth, console=console, browser=not no_browser)
        typer.echo(f"Waiting up to {timeout:g} s for the redirect to {auth.redirect_uri} ...")

    try:
        if callback:
            account = asyncio.run(
                callback_login(
                    oauth, settings.http, console=console, wait_seconds=timeout, show=show
                )
            )
        else:
            auth = start_authorization(oauth, console=console)
            _present(auth, console=console, browser=not no_browser)
            pasted = typer.prompt("Paste the code shown after you authorise (CODE#STATE)")
            code = parse_pasted_code(pasted, auth.state)
            account = asyncio.run(complete_login(oauth, settings.http, auth, code))
    except LoginError as exc:
        raise _fail(f"login failed: {exc}") from None
    who = f" as {account.id}" if account.id else ""
    typer.echo(f"Logged in to Claude{who}.")
    typer.echo(
        f"Credentials saved to {oauth.credentials_file} (Claude Code's credential file: "
        "Claude Code on this machine uses this login too)."
    )
    note = _static_note(oauth)
    if note:
        typer.echo(note)


@app.command()
def status(
    port: ServerPortOption = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the Claude credential (file, account, plan, expiry) and the last rate-limit windows
    the running server saw (found at server.host:server.port, or --port)."""
    import asyncio
    import json

    import httpx

    from ccproxy.plugins.cli import ServerAnswer, query_server, windows_heading
    from ccproxy_plugin_claude.credentials import build_token_manager
    from ccproxy_plugin_claude.oauth import STATUS_PATH
    from ccproxy_plugin_claude.status_text import credential_lines, rate_limit_lines

    settings, oauth = _load(config, set_)

    async def gather() -> tuple[dict[str, Any], ServerAnswer]:
        async with httpx.AsyncClient(trust_env=False) as http:  # never used: status reads only
            facts = build_token_manager(oauth, http).status()
        return facts, await query_server(settings, STATUS_PATH, plugin=_PLUGIN, port=port)

    facts, answer = asyncio.run(gather())
    if as_json:
        typer.echo(json.dumps({"credentials": facts, "server": answer.to_json()}, indent=2))
    else:
        for line in credential_lines(facts):
            typer.echo(line)
        server = answer.status or {}
        windows = rate_limit_lines(server.get("rate_limits") or {})
        typer.echo("")
        typer.echo(
            windows_heading(
                answer, seen_at=server.get("rate_limits_seen_at"), has_windows=bool(windows)
            )
        )
        for line in windows:
            typer.echo(line)
    if not facts.get("has_credentials"):
        raise typer.Exit(1)


@app.command()
def refresh(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Refresh the Claude access token now (Claude Code's file is updated in place)."""
    import asyncio

    from ccproxy.auth import AuthError
    from ccproxy.plugins import build_http_client
    from ccproxy_plugin_claude.credentials import build_token_manager, static_token
    from ccproxy_plugin_claude.status_text import credential_lines

    settings, oauth = _load(config, set_)
    token, source = static_token(oauth)
    if token is not None:
        raise _fail(
            f"the configured credential is a long-lived token ({source.partition(':')[2]}); "
            "it cannot be refreshed (make a new one with `claude setup-token`)"
        )

    async def run() -> dict[str, Any]:
        async with build_http_client(settings.http) as http:
            manager = build_token_manager(oauth, http)
            await manager.refresh(None)
            return manager.status()

    try:
        facts = asyncio.run(run())
    except AuthError as exc:
        raise _fail(f"refresh failed: {exc}") from None
    typer.echo("Refreshed the Claude access token.")
    for line in credential_lines(facts):
        typer.echo(line)


@app.command()
def logout(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Remove the Claude tokens (the 'claudeAiOauth' entry) from Claude Code's credential file."""
    import asyncio

    from ccproxy.auth import CredentialError, CredentialFile
    from ccproxy_plugin_claude.credentials import ClaudeCredentialFormat

    _, oauth = _load(config, set_)
    key = ClaudeCredentialFormat.key
    file = CredentialFile(oauth.credentials_file)

    def without_tokens(data: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in data.items() if name != key}

    async def run() -> tuple[bool, int]:
        async with file.lock():
            data = file.read()
            if data is None or key not in data:
                return False, len(data or {})
            kept = await file.update(without_tokens)
            return True, len(kept)

    try:
        removed, kept = asyncio.run(run())
    except (CredentialError, OSError) as exc:
        raise _fail(f"logout failed: {exc}") from None
    if removed:
        typer.echo(
            f"Removed the Claude tokens ('{key}') from {file.path}; kept its {kept} other "
            f"key{'' if kept == 1 else 's'}."
        )
        typer.echo(
            "This file is Claude Code's: Claude Code on this machine is logged out as well "
            "(log in again with `ccproxy auth login claude` or Claude Code's /login)."
        )
    else:
        typer.echo(f"No Claude tokens stored in {file.path}; nothing to remove.")
    note = _static_note(oauth)
    if note:
        typer.echo(note)
