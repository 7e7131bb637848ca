"""``ccproxy permissions watch|list|allow|deny``: decide tool calls on the running server.

The commands call the server at ``server.host:server.port`` (or ``--url``) with the
configured ``security.auth_token``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ccproxy.plugins.cli import ConfigOption, JsonOption, SetOption, load_cli_settings
from ccproxy_plugin_permissions.client import ApiError, PermissionsClient, server_url
from ccproxy_plugin_permissions.prompt import (
    PROMPT,
    EditError,
    default_editor,
    edit_input,
    escape,
    render_request,
)

__all__ = ["app"]

app = typer.Typer(
    name="permissions",
    help="Approve or deny Claude Code's tool calls waiting on the running server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Server base URL (default: from server.host and server.port)."),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"ccproxy permissions: {message}", err=True)
    raise typer.Exit(code)


def _client(config: Path | None, sets: list[str] | None, url: str | None) -> PermissionsClient:
    settings = load_cli_settings(config=config, sets=sets)
    secret = settings.security.auth_token
    token = secret.get_secret_value() if secret is not None else None
    return PermissionsClient(url or server_url(settings), token)


@app.command("list")
def list_(
    config: ConfigOption = None,
    set_: SetOption = None,
    url: UrlOption = None,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, allowed, denied or expired.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the requests the server holds (pending and recently decided)."""
    with _client(config, set_, url) as client:
        try:
            requests = client.list(status)
        except ApiError as exc:
            _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(requests, indent=2))
        return
    if not requests:
        typer.echo("no requests")
        return
    for request in requests:
        summary = escape(json.dumps(request["input"], ensure_ascii=False))
        if len(summary) > 80:
            summary = summary[:77] + "..."
        typer.echo(
            f"{request['id']}  {request['status']:<8}  {escape(request['tool_name'])}  {summary}"
        )


def _decide(
    client: PermissionsClient, request_id: str, *, allow: bool, **kwargs: Any
) -> dict[str, Any]:
    try:
        return client.decide(request_id, allow=allow, **kwargs)
    except ApiError as exc:
        _fail(str(exc))


@app.command("allow")
def allow(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    config: ConfigOption = None,
    set_: SetOption = None,
    url: UrlOption = None,
    updated_input: Annotated[
        str | None, typer.Option("--input", help="Replacement input, as a JSON object.")
    ] = None,
) -> None:
    """Allow request ID (optionally with an edited input)."""
    edited = None
    if updated_input is not None:
        try:
            value = json.loads(updated_input)
        except ValueError as exc:
            _fail(f"--input is not valid JSON: {exc}", 2)
        if not isinstance(value, dict):
            _fail("--input must be a JSON object", 2)
        edited = value
    with _client(config, set_, url) as client:
        request = _decide(client, request_id, allow=True, updated_input=edited)
    typer.echo(f"{request['id']} allowed")


@app.command("deny")
def deny(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    config: ConfigOption = None,
    set_: SetOption = None,
    url: UrlOption = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Why; Claude Code sees it.")
    ] = None,
) -> None:
    """Deny request ID."""
    with _client(config, set_, url) as client:
        request = _decide(client, request_id, allow=False, message=message)
    typer.echo(f"{request['id']} denied")


def _read_line() -> str:
    return sys.stdin.readline()


def _ask(client: PermissionsClient, request: dict[str, Any]) -> bool:
    """Prompt for one request; ``False`` when stdin has ended."""
    typer.echo("")
    typer.echo(render_request(request))
    while True:
        typer.echo(PROMPT, nl=False)
        line = _read_line()
        if not line:
            return False
        answer = line.strip().lower()
        try:
            if answer in ("a", "allow"):
                client.decide(request["id"], allow=True)
                typer.echo("allowed")
            elif answer in ("", "d", "deny"):
                client.decide(request["id"], allow=False, message="Denied from the terminal.")
                typer.echo("denied")
            elif answer in ("e", "edit"):
                try:
                    edited = edit_input(
                        request["input"],
                        editor=default_editor(),
                        read_line=_read_line,
                        write=lambda text: typer.echo(text, nl=False),
                    )
                except (EditError, OSError) as exc:
                    typer.echo(f"edit failed: {exc}")
                    continue
                client.decide(request["id"], allow=True, updated_input=edited)
                typer.echo("allowed with the edited input")
            else:
                typer.echo("answer a, d, e or press Enter")
                continue
        except ApiError as exc:
            # 409: decided elsewhere (web page, API) or expired meanwhile; not fatal.
            typer.echo(f"not recorded: {exc}")
        return True


@app.command("watch")
def watch(config: ConfigOption = None, set_: SetOption = None, url: UrlOption = None) -> None:
    """Prompt for each pending request as it arrives (Ctrl-C or end of input stops)."""
    with _client(config, set_, url) as client:
        typer.echo(f"watching {client.base_url}/permissions for tool calls…")
        try:
            for kind, request in client.events():
                if kind != "created":
                    continue
                try:
                    current = client.get(request["id"])
                except ApiError:
                    continue
                if current["status"] != "pending":
                    continue  # decided elsewhere while we were asking about another one
                if not _ask(client, current):
                    return
        except ApiError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("")
