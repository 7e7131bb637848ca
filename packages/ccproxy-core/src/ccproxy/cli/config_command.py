"""``ccproxy config show``: the effective settings, secrets masked, with where each value came from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from ccproxy.cli.options import (
    ConfigOption,
    DisablePluginOption,
    EnablePluginOption,
    JsonOption,
    SetOption,
    load_cli_settings,
)

__all__ = ["config_app"]

config_app = typer.Typer(
    name="config",
    help="Show the configuration ccproxy would run with.",
    no_args_is_help=True,
    add_completion=False,
)


def _leaves(
    data: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            found.extend(_leaves(value, path))
        else:
            found.append((path, value))
    return found


@config_app.command("show")
def show(
    config: ConfigOption = None,
    enable_plugin: EnablePluginOption = None,
    disable_plugin: DisablePluginOption = None,
    set_: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print every setting with its value and source (default, file, env VAR, --option), then
    the folders searched for local plugins."""
    settings = load_cli_settings(
        config=config, sets=set_, enable_plugins=enable_plugin, disable_plugins=disable_plugin
    )
    from ccproxy.cli.text import format_value, mask_tree, table
    from ccproxy.config.sources import describe_source

    sources = settings.config_sources
    data = mask_tree(settings.model_dump(mode="json"))
    leaves = _leaves(data)
    config_file = str(sources.config_file) if sources.config_file is not None else None

    plugin_dirs = [str(path.expanduser().absolute()) for path in settings.local_plugin_dirs()]

    if as_json:
        body = {
            "config_file": config_file,
            "settings": data,
            "sources": {".".join(path): sources.source_of(path) for path, _ in leaves},
            "local_plugin_dirs": plugin_dirs,
        }
        typer.echo(json.dumps(body, indent=2))
        return

    if config_file is None:
        typer.echo(
            "config file: none (looked for $CCPROXY_CONFIG, ./.ccproxy.toml, "
            "$XDG_CONFIG_HOME/ccproxy/config.toml)"
        )
    else:
        typer.echo(f"config file: {config_file}")
    typer.echo("")
    rows = [
        [".".join(path), format_value(value), describe_source(sources.source_of(path))]
        for path, value in leaves
    ]
    typer.echo(table(["KEY", "VALUE", "SOURCE"], rows))
    typer.echo("")
    if settings.plugins_disable_local_discovery:
        typer.echo("local plugin folders: none searched (plugins_disable_local_discovery)")
        return
    how = "plugin_dirs" if settings.plugin_dirs is not None else "the default, plugin_dirs unset"
    typer.echo(f"local plugin folders searched ({how}):")
    for folder in plugin_dirs:
        state = "" if Path(folder).is_dir() else "  (does not exist)"
        typer.echo(f"  {folder}{state}")
