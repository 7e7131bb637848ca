"""``ccproxy auth login|status|refresh|logout <provider>``, built from an :class:`OAuthProvider`.

Every provider gets the same four commands with the same wording; what differs (its login
methods and flags, its file, its usage windows) comes from its description. Every command reads
configuration like ``ccproxy serve`` (``--config``, ``--set``, the environment, the TOML file).
No command prints a token, a code or a verifier.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ccproxy.cli.options import (
    ConfigOption,
    JsonOption,
    ServerPortOption,
    SetOption,
    load_cli_settings,
)

if TYPE_CHECKING:
    from ccproxy.auth import Credentials, OAuthProvider

__all__ = ["AccountOption", "auth_commands"]

AccountOption = Annotated[
    str,
    typer.Option(
        "--account",
        "-a",
        help="The account: 'default' is the provider CLI's own credential file; any other name "
        "is a file of its own in $XDG_CONFIG_HOME/ccproxy/accounts/<provider>/.",
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"ccproxy: {message}", err=True)
    raise typer.Exit(code)


def _load(provider: OAuthProvider[Any], config: Path | None, sets: list[str] | None) -> Any:
    from ccproxy.plugins import PluginConfigError, validate_plugin_config

    settings = load_cli_settings(config=config, sets=sets)
    try:
        validated = validate_plugin_config(
            provider.plugin,
            provider.config_class,
            settings.plugin_table(provider.plugin),
            sources=settings.config_sources,
        )
    except PluginConfigError as exc:
        _fail(f"configuration error: {exc}", 2)
    return settings, validated


def _account_path(provider: OAuthProvider[Any], oauth: Any, account: str) -> Path:
    try:
        return provider.account_path(oauth, account)
    except ValueError as exc:
        _fail(str(exc), 2)


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


def _credential_lines(provider: OAuthProvider[Any], facts: dict[str, Any]) -> list[str]:
    from ccproxy.cli.auth_status import credential_lines

    if facts.get("has_credentials") and facts.get("path") is None:
        source = str(facts.get("source") or "")
        return [
            f"{provider.display_name} credentials: a long-lived token from "
            f"{source.partition(':')[2] or source}",
            f"  refresh:  never (it is used as is; {provider.static_token_hint})",
        ]
    scopes = " ".join(facts.get("scopes") or []) or "unknown"
    return credential_lines(
        provider.display_name,
        facts,
        login_command=provider.login_command,
        extra=[("scopes", scopes)],
        # The stored token is not what the API takes: say what happens instead of a refresh.
        refresh="not needed: short-lived API tokens are exchanged for this one when needed "
        "(kept in memory only)"
        if "exchanged" in facts
        else None,
    )


def _static_note(provider: OAuthProvider[Any], oauth: Any) -> None:
    token, source = provider.static_token(oauth)
    if token is not None:
        typer.echo(
            f"Note: a long-lived token is configured ({source.partition(':')[2]}); "
            "ccproxy uses it instead of the credential file while it is set."
        )


def _login_signature(provider: OAuthProvider[Any]) -> inspect.Signature:
    """``login``'s parameters: the common ones, a flag per other method, the provider's flags."""
    from ccproxy.auth import LoginMethod

    def param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    def flag(name: str, help_text: str) -> inspect.Parameter:
        option = typer.Option(f"--{name.replace('_', '-')}", help=help_text)
        return param(f"flag_{name}", Annotated[bool, option], False)

    method_help = {
        LoginMethod.CALLBACK: "Receive the redirect on a local server "
        "(http://localhost:<port><path>) instead of pasting CODE#STATE.",
        LoginMethod.PASTE: "Paste the CODE#STATE the authorization page shows instead of "
        "receiving a redirect.",
        LoginMethod.DEVICE: "Use the device-code flow (for machines without a browser).",
    }
    params = [flag(option.name, option.help) for option in provider.login_options]
    params.append(flag("no_browser", "Only print the URL; do not open a browser."))
    params += [flag(m.value, method_help[m]) for m in provider.login_methods[1:]]
    timeout = typer.Option("--timeout", min=1, help="Seconds to wait for the login to complete.")
    params += [
        param("timeout", Annotated[float | None, timeout]),
        param("account", AccountOption, "default"),
        param("config", ConfigOption),
        param("set_", SetOption),
    ]
    return inspect.Signature(params, return_annotation=None)


def auth_commands(provider: OAuthProvider[Any]) -> typer.Typer:
    """The ``login``, ``status``, ``refresh`` and ``logout`` commands of ``provider``."""
    app = typer.Typer(
        name=provider.name,
        help=f"{provider.display_name} credentials, kept in {provider.file_owner}'s credential "
        "file.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,  # locals may hold tokens
    )

    def login(**kwargs: Any) -> None:
        from ccproxy.auth import AuthError, LoginUI
        from ccproxy.auth import login as run_login

        settings, oauth = _load(provider, kwargs["config"], kwargs["set_"])
        account = kwargs["account"]
        _account_path(provider, oauth, account)
        chosen = [m for m in provider.login_methods[1:] if kwargs[f"flag_{m.value}"]]
        if len(chosen) > 1:
            _fail(f"choose one of {', '.join(f'--{m.value}' for m in chosen)}", 2)
        method = chosen[0] if chosen else provider.login_methods[0]
        options = frozenset(o.name for o in provider.login_options if kwargs[f"flag_{o.name}"])
        ui = LoginUI(typer.echo, typer.prompt, open_browser=not kwargs["flag_no_browser"])

        async def run() -> dict[str, Any]:
            from ccproxy.plugins import build_http_client

            async with build_http_client(settings.http) as http:
                return await run_login(
                    provider,
                    oauth,
                    http,
                    ui,
                    method=method,
                    options=options,
                    timeout=kwargs["timeout"],
                    account=account,
                )

        try:
            facts = asyncio.run(run())
        except AuthError as exc:
            _fail(f"login failed: {exc}")
        except KeyboardInterrupt:
            _fail("login interrupted", 130)
        who = f" as {facts['account_id']}" if facts.get("account_id") else ""
        plan = f" (plan {facts['plan']})" if facts.get("plan") else ""
        typer.echo(f"Logged in to {provider.display_name}{who}{plan}.")
        if account == "default":
            shared = provider.shared_with(oauth, Path(str(facts.get("path"))))
            also = f" (shared with {shared}: it uses this login too)" if shared else ""
            typer.echo(f"Credentials saved to {facts.get('path')}{also}.")
            _static_note(provider, oauth)
        else:
            typer.echo(
                f"Credentials of account {account!r} saved to {facts.get('path')}; a running "
                "ccproxy picks the account up within a few seconds."
            )

    # typer reads the parameters from the signature: the flags depend on the provider.
    signature = _login_signature(provider)
    login.__signature__ = signature  # type: ignore[attr-defined]
    login.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    from ccproxy.auth import LoginMethod

    device_only = provider.login_methods == (LoginMethod.DEVICE,)
    flow = "the OAuth device flow" if device_only else "OAuth PKCE"
    app.command(
        help=f"Log in to {provider.display_name} through {flow} and store the tokens in "
        f"{provider.file_owner}'s credential file (--account NAME: in a file of that account)."
    )(login)

    @app.command(
        help=f"Show every {provider.display_name} account (the credential's file, plan and "
        "expiry, and the state and usage windows the running server saw: found at "
        "server.host:server.port, or --port). --json prints what GET /api/accounts says."
    )
    def status(
        port: ServerPortOption = None,
        as_json: JsonOption = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        from ccproxy.auth.accounts import account_files
        from ccproxy.cli.auth_accounts import account_table, local_rows
        from ccproxy.cli.auth_status import ServerAnswer, query_server, windows_heading

        settings, oauth = _load(provider, config, set_)

        async def gather() -> tuple[
            dict[str, dict[str, Any]], dict[str, list[str]], ServerAnswer, ServerAnswer
        ]:
            from ccproxy.plugins import build_http_client

            found, _ = account_files(
                provider.credentials_path(oauth), provider.accounts_folder(oauth)
            )
            files = {
                name: path for name, path in found.items() if name == "default" or path.is_file()
            }
            async with build_http_client(settings.http) as http:
                facts = {
                    name: provider.token_source(oauth, http, account=name).status()
                    for name in files
                }
                lines = {
                    name: await provider.account_lines(oauth, http, creds)
                    for name, path in files.items()
                    if facts[name].get("has_credentials")
                    and (creds := _stored_credentials(provider, path)) is not None
                }
            answer, accounts = [
                await query_server(settings, path, plugin=provider.plugin, port=port)
                for path in (provider.status_path, "/api/accounts")
            ]
            return facts, lines, answer, accounts

        facts, lines, answer, accounts = asyncio.run(gather())
        served = (accounts.status or {}).get(provider.name)
        rows = served if isinstance(served, list) else local_rows(facts)
        if as_json:
            if not isinstance(served, list):
                why = accounts.problem or f"the server runs no {provider.name} provider"
                typer.echo(
                    f"ccproxy: state from the files alone: {why}",
                    err=True,
                )
            typer.echo(json.dumps({provider.name: rows}, indent=2, default=str))
        elif len(rows) > 1 or len(facts) > 1:
            typer.echo(f"{provider.display_name} accounts ({len(rows)}):")
            _echo_lines(account_table(rows))
            if not isinstance(served, list):
                typer.echo(f"State from the files alone: {accounts.problem or 'unknown'}.")
        else:
            _echo_lines(_credential_lines(provider, facts["default"]))
        if not as_json:
            for name, account_lines in lines.items():
                if account_lines and len(facts) > 1:
                    typer.echo(f"{name}:")
                _echo_lines(account_lines)
            windows, seen_at = provider.window_lines(answer.status or {})
            typer.echo("")
            typer.echo(windows_heading(answer, seen_at=seen_at, has_windows=bool(windows)))
            _echo_lines(windows)
        if not any(f.get("has_credentials") for f in facts.values()):
            raise typer.Exit(1)

    @app.command(help=f"Refresh the {provider.display_name} access token now (file updated).")
    def refresh(
        account: AccountOption = "default", config: ConfigOption = None, set_: SetOption = None
    ) -> None:
        from ccproxy.auth import AuthError
        from ccproxy.plugins import build_http_client

        settings, oauth = _load(provider, config, set_)
        _account_path(provider, oauth, account)
        token, source = provider.static_token(oauth)
        if token is not None and account == "default":
            _fail(
                f"the configured credential is a long-lived token ({source.partition(':')[2]}); "
                f"it cannot be refreshed ({provider.static_token_hint})"
            )

        async def run() -> dict[str, Any]:
            from ccproxy.auth.plugin import shared_refresh_lock
            from ccproxy.state import build_shared_state

            redis_url = settings.state.redis_url
            state = build_shared_state(
                None if redis_url is None else redis_url.get_secret_value(),
                key_prefix=settings.state.key_prefix,
            )
            try:
                async with build_http_client(settings.http) as http:
                    source = provider.token_source(
                        oauth, http, account=account, shared_lock=shared_refresh_lock(state)
                    )
                    await source.refresh(None)
                    return source.status()
            finally:
                await state.aclose()

        try:
            facts = asyncio.run(run())
        except AuthError as exc:
            _fail(f"refresh failed: {exc}")
        named = "" if account == "default" else f" of account {account!r}"
        typer.echo(f"Refreshed the {provider.display_name} access token{named}.")
        _echo_lines(_credential_lines(provider, facts))

    @app.command(
        help=f"Revoke the {provider.display_name} tokens where supported and remove them "
        f"('{provider.credentials_key}') from the credential file, keeping its other keys "
        "(--account NAME: remove that account's file)."
    )
    def logout(
        account: AccountOption = "default", config: ConfigOption = None, set_: SetOption = None
    ) -> None:
        from ccproxy.auth import CredentialError, CredentialFile

        settings, oauth = _load(provider, config, set_)
        key = provider.credentials_key
        file = CredentialFile(_account_path(provider, oauth, account))
        if account != "default":
            _remove_account(provider, settings, oauth, file, account)
            return
        if provider.read_only(oauth, file.path):
            owner = provider.shared_with(oauth, file.path) or "another program"
            typer.echo(
                f"{file.path} is {owner}'s login: ccproxy only reads it and leaves it as it is. "
                f"Log out in {owner} (or delete the file) to stop ccproxy using it."
            )
            return

        async def run() -> tuple[list[str], int] | None:
            data = file.read()
            if data is None or key not in data:
                return None
            outcomes = await _revoke(provider, settings, oauth, data)
            kept = await file.update(lambda current: {k: v for k, v in current.items() if k != key})
            return outcomes, len(kept)

        try:
            done = asyncio.run(run())
        except (CredentialError, OSError) as exc:
            _fail(f"logout failed: {exc}")
        if done is None:
            typer.echo(
                f"No {provider.display_name} tokens stored in {file.path}; nothing to remove."
            )
        else:
            outcomes, kept = done
            _echo_lines(outcomes)
            typer.echo(
                f"Removed the {provider.display_name} tokens ('{key}') from {file.path}; kept its "
                f"{kept} other key{'' if kept == 1 else 's'}."
            )
            shared = provider.shared_with(oauth, file.path)
            if shared:
                typer.echo(
                    f"This file is also {shared}'s: {shared} on this machine is logged out as "
                    f"well (log in again with `{provider.login_command}`)."
                )
        _static_note(provider, oauth)

    return app


def _stored_credentials(provider: OAuthProvider[Any], path: Path) -> Credentials | None:
    """The credentials in ``path``; ``None`` when there are none or the file is unreadable."""
    from ccproxy.auth import CredentialError, CredentialFile

    try:
        data = CredentialFile(path).read()
    except CredentialError:
        return None
    return provider.credential_format().load(data) if data is not None else None


async def _revoke(
    provider: OAuthProvider[Any], settings: Any, oauth: Any, data: dict[str, Any]
) -> list[str]:
    """Revoke the tokens in the credential file's ``data``; one line per outcome."""
    from ccproxy.plugins import build_http_client

    creds = provider.credential_format().load(data)
    if creds is None:
        return []
    async with build_http_client(settings.http) as http:
        return await provider.revoke(oauth, http, creds)


def _remove_account(
    provider: OAuthProvider[Any], settings: Any, oauth: Any, file: Any, account: str
) -> None:
    """``logout --account NAME``: revoke what can be revoked, then delete the account's file."""
    from ccproxy.auth import CredentialError

    async def run() -> list[str] | None:
        async with file.lock():
            data = file.read()
            if data is None:
                return None
            outcomes = await _revoke(provider, settings, oauth, data)
            file.path.unlink(missing_ok=True)
            return outcomes

    try:
        outcomes = asyncio.run(run())
        file.lock_path.unlink(missing_ok=True)  # the account is gone: so is its lock file
    except (CredentialError, OSError) as exc:
        _fail(f"logout failed: {exc}")
    if outcomes is None:
        typer.echo(
            f"No {provider.display_name} account {account!r} ({file.path}); nothing to remove."
        )
        return
    _echo_lines(outcomes)
    typer.echo(
        f"Removed {provider.display_name} account {account!r} ({file.path}); a running ccproxy "
        "stops using it within a few seconds."
    )
