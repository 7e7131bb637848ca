"""Options shared by the commands that read configuration, and loading settings from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from ccproxy.config import Settings, SettingsError

__all__ = [
    "ConfigOption",
    "DisablePluginOption",
    "EnablePluginOption",
    "JsonOption",
    "LogLevelOption",
    "ServerPortOption",
    "SetOption",
    "cli_overrides",
    "exit_with_settings_error",
    "load_cli_settings",
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file. Default: $CCPROXY_CONFIG, else ./.ccproxy.toml, else "
        "$XDG_CONFIG_HOME/ccproxy/config.toml.",
        dir_okay=False,
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Set a dotted key, e.g. server.port=8001 or plugins.codex.base_url=http://x; "
        "VALUE is JSON, else TOML, else text. Repeatable.",
        show_default=False,
    ),
]
EnablePluginOption = Annotated[
    list[str] | None,
    typer.Option(
        "--enable-plugin",
        metavar="NAME",
        help="Enable a plugin (plugins.NAME.enabled=true). Repeatable.",
        show_default=False,
    ),
]
DisablePluginOption = Annotated[
    list[str] | None,
    typer.Option(
        "--disable-plugin",
        metavar="NAME",
        help="Disable a plugin (plugins.NAME.enabled=false). Repeatable.",
        show_default=False,
    ),
]
LogLevelOption = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (logging.level).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ServerPortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        "-p",
        help="Port of the running ccproxy to ask. Default: server.port of the configuration.",
        show_default=False,
    ),
]


def exit_with_settings_error(exc: SettingsError) -> NoReturn:
    """Print a configuration error on stderr and exit with status 2."""
    lines = "\n".join(f"  {problem}" for problem in exc.problems)
    typer.echo(f"ccproxy: configuration error\n{lines}", err=True)
    raise typer.Exit(2)


def cli_overrides(
    *,
    sets: list[str] | None = None,
    enable_plugins: list[str] | None = None,
    disable_plugins: list[str] | None = None,
    named: dict[str, tuple[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The CLI layer for ``load_settings``: ``(dotted key → value, dotted key → option)``.

    Later wins within the layer: ``--set``, then ``--enable-plugin``/``--disable-plugin``, then
    the named options (``named`` maps a dotted key to ``(option, value)``; ``None`` values are
    skipped). Raises ``SettingsError`` for a malformed ``--set``.
    """
    from ccproxy.config import parse_assignment

    values: dict[str, Any] = {}
    options: dict[str, str] = {}

    def put(key: str, value: Any, option: str) -> None:
        values.pop(key, None)  # re-insert: dict order is the order the loader applies them
        values[key] = value
        options[key] = option

    for text in sets or []:
        key, value = parse_assignment(text)
        put(key, value, "--set")
    for name in enable_plugins or []:
        put(f"plugins.{name}.enabled", True, "--enable-plugin")
    for name in disable_plugins or []:
        put(f"plugins.{name}.enabled", False, "--disable-plugin")
    for key, (option, value) in (named or {}).items():
        if value is not None:
            put(key, value, option)
    return values, options


def load_cli_settings(
    *,
    config: Path | None = None,
    sets: list[str] | None = None,
    enable_plugins: list[str] | None = None,
    disable_plugins: list[str] | None = None,
    named: dict[str, tuple[str, Any]] | None = None,
) -> Settings:
    """Load settings with the CLI layer on top; exit 2 with the error on stderr when invalid."""
    from ccproxy.config import SettingsError, load_settings

    try:
        values, options = cli_overrides(
            sets=sets, enable_plugins=enable_plugins, disable_plugins=disable_plugins, named=named
        )
        return load_settings(config_file=config, cli=values, cli_options=options)
    except SettingsError as exc:
        exit_with_settings_error(exc)
