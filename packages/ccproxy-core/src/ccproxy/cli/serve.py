"""``ccproxy serve``: load settings, configure logging, build the app and run it with uvicorn."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

import typer

from ccproxy.cli.options import (
    ConfigOption,
    DisablePluginOption,
    EnablePluginOption,
    LogLevelOption,
    SetOption,
    exit_with_settings_error,
    load_cli_settings,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ccproxy.config import Settings

__all__ = ["is_loopback_host", "plugin_config_problems", "serve"]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (what may be bound without a token)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plugin_config_problems(app: FastAPI, settings: Settings) -> list[str]:
    """One line per bad ``plugins.<name>.*`` value of the plugins ``app`` would have started,
    naming key, value (secrets masked) and source."""
    from ccproxy.app import get_plugin_host
    from ccproxy.plugins import PluginConfigError, validate_plugin_config

    problems: list[str] = []
    for record in get_plugin_host(app).registry.plugins():
        manifest = record.manifest
        if record.state != "failed" or manifest is None or manifest.config_class is None:
            continue
        try:
            validate_plugin_config(
                manifest.name,
                manifest.config_class,
                settings.plugin_table(manifest.name),
                sources=settings.config_sources,
            )
        except PluginConfigError as exc:
            problems.extend(exc.problems)
    return problems


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Interface to bind (server.host). Default 127.0.0.1.", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            help="Port to bind (server.port); 0 picks a free one. Default 8000.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Worker processes sharing the port (server.workers). Default 1.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    enable_plugin: EnablePluginOption = None,
    disable_plugin: DisablePluginOption = None,
    set_: SetOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Run the proxy.

    Configuration is read from defaults, then the TOML file, then the environment (SERVER__PORT,
    PLUGINS__CODEX__BASE_URL, ...), then these options; later ones win, key by key. A bad value,
    a plugin's included, stops it with exit status 2 before it listens.
    """
    settings = load_cli_settings(
        config=config,
        sets=set_,
        enable_plugins=enable_plugin,
        disable_plugins=disable_plugin,
        named={
            "server.host": ("--host", host),
            "server.port": ("--port", port),
            "server.workers": ("--workers", workers),
            "logging.level": ("--log-level", log_level),
        },
    )
    bind_host = settings.server.host
    if not is_loopback_host(bind_host) and settings.security.auth_token is None:
        typer.echo(
            f"ccproxy: refusing to listen on {bind_host!r}: it is not a loopback address and "
            "security.auth_token is not set, so anyone who can reach this machine could use your "
            "subscriptions. Set a token (--set security.auth_token=..., SECURITY__AUTH_TOKEN=... "
            "or [security] auth_token in the config file) or bind 127.0.0.1.",
            err=True,
        )
        raise typer.Exit(2)

    from ccproxy.logging import configure_logging

    configure_logging(settings.logging)

    from ccproxy.app import create_app
    from ccproxy.cli.server import run_server

    app = create_app(settings)
    problems = plugin_config_problems(app, settings)
    if problems:
        # The app would run without those plugins; a person who set a value wants it used.
        from ccproxy.config import SettingsError

        exit_with_settings_error(SettingsError("\n".join(problems), problems))
    if settings.server.workers > 1:
        _serve_with_workers(settings)
    elif not run_server(app, settings):
        raise typer.Exit(1)


def _serve_with_workers(settings: Settings) -> None:
    """``--workers N`` (N > 1): the app checked above is dropped; each worker builds its own."""
    from ccproxy.cli.server import format_url
    from ccproxy.cli.workers import per_process_notice, run_workers

    notice = per_process_notice(settings)
    if notice:
        typer.echo(notice, err=True)
    host = settings.server.host
    if not run_workers(settings, lambda port: format_url(host, port)):
        raise typer.Exit(1)
