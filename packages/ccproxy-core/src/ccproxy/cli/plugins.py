"""``ccproxy plugins list`` and ``ccproxy plugins settings NAME``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccproxy.cli.options import (
    ConfigOption,
    DisablePluginOption,
    EnablePluginOption,
    JsonOption,
    LogLevelOption,
    SetOption,
    load_cli_settings,
)

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from ccproxy.config import Settings
    from ccproxy.plugins.registry import PluginRecord

__all__ = ["INSTALL_HINT", "plugins_app"]

INSTALL_HINT = "pip install ccproxy-plugin-claude ccproxy-plugin-codex"

plugins_app = typer.Typer(
    name="plugins",
    help="What plugins are installed, whether they run (and why not), and their settings.",
    no_args_is_help=True,
    add_completion=False,
)

_STATUS_WORDS = {"loaded": "enabled", "initialized": "running", "stopped": "stopped"}


@contextmanager
def _plugin_logs(settings: Settings, log_level: str | None) -> Iterator[None]:
    """Quiet plugin loading: what goes wrong is in the table. ``--log-level`` turns logs on."""
    if log_level is not None:
        from ccproxy.logging import configure_logging

        configure_logging(settings.logging)
        yield
        return
    logger = logging.getLogger("ccproxy")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _load_records(settings: Settings) -> list[PluginRecord]:
    import asyncio

    from ccproxy.app import create_app, get_plugin_host

    host = get_plugin_host(create_app(settings))
    try:
        return host.registry.plugins()
    finally:
        asyncio.run(host.shutdown())  # never started: this only closes the shared HTTP client


def _plugin_dirs(settings: Settings) -> list[str]:
    from ccproxy.plugins.discovery import default_plugin_dirs

    dirs = settings.plugin_dirs if settings.plugin_dirs is not None else default_plugin_dirs()
    return [str(path) for path in dirs]


def _short_path(text: str) -> str:
    """``./x`` under the working directory, ``~/x`` under the home directory, else absolute."""
    path = Path(text)
    for base, shown in ((Path.cwd(), "."), (Path.home(), "~")):
        try:
            return f"{shown}/{path.relative_to(base)}"
        except ValueError:
            continue
    return text


def _origin(record: PluginRecord) -> str:
    if record.source == "local":
        return f"local: {_short_path(str(Path(record.location).parent))}"
    return record.distribution or "?"


def _record_json(record: PluginRecord) -> dict[str, Any]:
    data = record.summary()
    data["enabled"] = record.enabled
    data["location"] = record.location
    return data


@plugins_app.command("list")
def list_plugins(
    config: ConfigOption = None,
    enable_plugin: EnablePluginOption = None,
    disable_plugin: DisablePluginOption = None,
    set_: SetOption = None,
    log_level: LogLevelOption = None,
    as_json: JsonOption = False,
) -> None:
    """List installed and local plugins: type, version, where from, and whether they are enabled."""
    settings = load_cli_settings(
        config=config,
        sets=set_,
        enable_plugins=enable_plugin,
        disable_plugins=disable_plugin,
        named={"logging.level": ("--log-level", log_level)},
    )
    with _plugin_logs(settings, log_level):
        records = _load_records(settings)
    if as_json:
        typer.echo(json.dumps({"plugins": [_record_json(r) for r in records]}, indent=2))
        return
    if not records:
        typer.echo("No plugins installed.")
        typer.echo(f"Install some: {INSTALL_HINT}")
        if settings.plugins_disable_local_discovery:
            typer.echo("Local plugin directories are off (plugins_disable_local_discovery = true).")
        else:
            typer.echo("Or add local plugins as <dir>/<name>/plugin.py (exporting 'factory') in:")
            for directory in _plugin_dirs(settings):
                typer.echo(f"  {directory}")
        return

    from ccproxy.cli.text import table, wrap

    rows = [
        [
            r.name,
            r.plugin_type or "-",
            (r.manifest.version if r.manifest else r.version) or "-",
            _STATUS_WORDS.get(r.state, r.state),
            _origin(r),
        ]
        for r in records
    ]
    lines = table(["NAME", "TYPE", "VERSION", "STATUS", "FROM"], rows).splitlines()
    typer.echo(lines[0])
    for record, line in zip(records, lines[1:], strict=True):
        typer.echo(line)
        if record.error:
            typer.echo(wrap(f"why: {record.error}"))


def _type_name(annotation: Any) -> str:
    import re

    if isinstance(annotation, type):
        return annotation.__name__
    text = repr(annotation).replace("typing.", "").replace("NoneType", "None")
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", text)


def _display(value: Any, key: str) -> Any:
    from pydantic import SecretBytes, SecretStr
    from pydantic_core import to_jsonable_python

    from ccproxy.cli.text import MASK, mask_tree

    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK
    return mask_tree(to_jsonable_python(value, fallback=str), key)


def _field_rows(
    name: str, settings: Settings, config_class: Any, current: Any
) -> list[dict[str, Any]]:
    table = settings.plugin_table(name)
    sources = settings.config_sources
    fields: dict[str, FieldInfo] = config_class.model_fields
    rows = []
    for field_name, info in fields.items():
        key = info.alias or field_name
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        value = getattr(current, field_name) if current is not None else table.get(key, default)
        rows.append(
            {
                "name": key,
                "type": _type_name(info.annotation),
                "required": required,
                "default": _display(default, key),
                "value": _display(value, key),
                "source": sources.source_of(["plugins", name, key]),
                "description": info.description or "",
                "env": f"PLUGINS__{name}__{key}".upper(),
            }
        )
    return rows


@plugins_app.command("settings")
def plugin_settings(
    name: Annotated[str, typer.Argument(help="The plugin's name, as in 'ccproxy plugins list'.")],
    config: ConfigOption = None,
    enable_plugin: EnablePluginOption = None,
    disable_plugin: DisablePluginOption = None,
    set_: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a plugin's settings: type, default, current value and where it came from, env name."""
    settings = load_cli_settings(
        config=config, sets=set_, enable_plugins=enable_plugin, disable_plugins=disable_plugin
    )
    from ccproxy.config.sources import describe_source
    from ccproxy.plugins.discovery import disabled_reason, discover_candidates, resolve_factory
    from ccproxy.plugins.plugin_config import PluginConfigError, validate_plugin_config

    with _plugin_logs(settings, None):
        candidates = {candidate.name: candidate for candidate in discover_candidates(settings)}
        candidate = candidates.get(name)
        if candidate is None:
            known = ", ".join(sorted(candidates)) or f"none (install some: {INSTALL_HINT})"
            typer.echo(f"ccproxy: unknown plugin {name!r}; known plugins: {known}", err=True)
            raise typer.Exit(1)
        origin = (
            candidate.distribution or f"local: {_short_path(str(Path(candidate.location).parent))}"
        )
        try:
            manifest = resolve_factory(candidate.loader()).manifest
        except Exception as exc:
            typer.echo(
                f"ccproxy: plugin {name!r} (from {origin}) could not be loaded: {type(exc).__name__}: {exc}",
                err=True,
            )
            raise typer.Exit(1) from None

    reason = disabled_reason(name, settings)
    config_class = manifest.config_class
    current: Any = None
    config_error: str | None = None
    if config_class is not None:
        try:
            current = validate_plugin_config(name, config_class, settings.plugin_table(name))
        except PluginConfigError as exc:
            config_error = str(exc)
    fields = _field_rows(name, settings, config_class, current) if config_class is not None else []

    if as_json:
        body = {
            "plugin": name,
            "version": manifest.version,
            "from": origin,
            "enabled": reason is None,
            "disabled_reason": reason,
            "config_error": config_error,
            "fields": fields,
        }
        typer.echo(json.dumps(body, indent=2))
        return

    from ccproxy.cli.text import format_value, wrap

    status = "enabled" if reason is None else f"disabled ({reason})"
    typer.echo(f"Plugin {name} {manifest.version} (from {origin}): {status}")
    if config_class is None:
        typer.echo("It has no settings.")
        return
    typer.echo(
        wrap(
            f"Settings: [plugins.{name}] in the config file, PLUGINS__{name.upper()}__<FIELD> in "
            f"the environment, --set plugins.{name}.<field>=VALUE.",
            indent=0,
        )
    )
    if config_error:
        typer.echo(
            wrap(f"invalid configuration (the plugin will not start): {config_error}", indent=0)
        )
    for field in fields:
        typer.echo("")
        typer.echo(f"{field['name']}: {field['type']}")
        default = "(required)" if field["required"] else format_value(field["default"])
        typer.echo(f"    default: {default}")
        source = field["source"]
        where = "" if source == "default" else f"  (from {describe_source(source)})"
        typer.echo(f"    current: {format_value(field['value'])}{where}")
        typer.echo(f"    env:     {field['env']}")
        if field["description"]:
            typer.echo(wrap(field["description"]))


class NewPluginType(StrEnum):
    """The ``--type`` choices of ``ccproxy plugins new``."""

    system = "system"
    provider = "provider"
    auth_provider = "auth_provider"


@plugins_app.command("new")
def new_plugin(
    name: Annotated[str, typer.Argument(help="The plugin's name: lowercase, digits, underscores.")],
    plugin_type: Annotated[
        NewPluginType,
        typer.Option(
            "--type",
            help="system (a feature), provider (proxies an upstream) or auth_provider (oauth.NAME).",
        ),
    ] = NewPluginType.system,
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest",
            metavar="DIR",
            file_okay=False,
            help="The parent folder: the package is written to DIR/ccproxy-plugin-NAME "
            "(default: ./packages if it exists, else the current directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a plugin package from the template: pyproject, src, tests, README, CHANGELOG.

    The package goes into its own folder, ccproxy-plugin-NAME, under --dest. The commands
    printed afterwards install it into the environment this ccproxy runs in.
    """
    from ccproxy.cli.new_plugin import (
        InstallEnvironment,
        PluginTemplateError,
        create_plugin,
        next_steps,
    )

    try:
        target = create_plugin(name, plugin_type.value, dest)
    except PluginTemplateError as exc:
        typer.echo(f"ccproxy: {exc}", err=True)
        raise typer.Exit(1) from None
    shown = _short_path(str(target))
    typer.echo(f"Created the {plugin_type.value} plugin {name!r} in {shown}")
    for line in next_steps(target, shown, InstallEnvironment.detect()):
        typer.echo(line)
