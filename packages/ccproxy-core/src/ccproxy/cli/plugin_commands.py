"""Commands that plugins add through the ``ccproxy.commands`` entry point group.

``ccproxy --help`` lists them from distribution metadata alone; a command's module is imported
only when that command runs. Entry points named ``auth.<provider>`` are not top-level commands:
``ccproxy auth login <provider>`` dispatches to them (see :mod:`ccproxy.cli.auth`).
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context

__all__ = [
    "AUTH_PREFIX",
    "COMMANDS_GROUP",
    "PLUGIN_COMMANDS_PANEL",
    "LazyPluginCommand",
    "PluginCommandGroup",
    "auth_provider_entry_points",
    "command_entry_points",
    "distribution_of",
    "load_command",
]

#: The entry point group of plugin commands (the same value as
#: ``ccproxy.plugins.discovery.COMMANDS_GROUP``, repeated here so that ``--help`` stays light).
COMMANDS_GROUP = "ccproxy.commands"
#: Entry points named ``auth.<provider>`` are auth provider CLIs.
AUTH_PREFIX = "auth."
PLUGIN_COMMANDS_PANEL = "Plugin commands"


def command_entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed ``ccproxy.commands`` entry points by name (the first of duplicate names wins)."""
    found: dict[str, metadata.EntryPoint] = {}
    for entry_point in metadata.entry_points(group=COMMANDS_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def auth_provider_entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed auth provider CLIs by provider name (entry points ``auth.<provider>``)."""
    return {
        name.removeprefix(AUTH_PREFIX): entry_point
        for name, entry_point in command_entry_points().items()
        if name.startswith(AUTH_PREFIX) and len(name) > len(AUTH_PREFIX)
    }


def distribution_of(entry_point: metadata.EntryPoint) -> str:
    """The name of the distribution that declares ``entry_point``."""
    dist = entry_point.dist
    return dist.name if dist is not None else f"an unknown distribution ({entry_point.value})"


def _fail(message: str) -> NoReturn:
    typer.echo(f"ccproxy: {message}", err=True)
    raise typer.Exit(1)


def load_command(entry_point: metadata.EntryPoint) -> Command:
    """Import ``entry_point`` and return its click command; exit 1 naming the distribution on failure.

    The entry point's object is a ``typer.Typer`` app (or a click command built by typer), or,
    for ``auth.<provider>``, an :class:`~ccproxy.auth.OAuthProvider` whose commands core builds.
    """
    where = f"command {entry_point.name!r} from {distribution_of(entry_point)}"
    try:
        obj = entry_point.load()
    except Exception as exc:
        _fail(f"{where} could not be imported ({entry_point.value}): {type(exc).__name__}: {exc}")
    if not isinstance(obj, typer.Typer) and entry_point.name.startswith(AUTH_PREFIX):
        from ccproxy.auth import OAuthProvider

        if isinstance(obj, OAuthProvider):
            from ccproxy.cli.auth_commands import auth_commands

            obj = auth_commands(obj)
    if isinstance(obj, typer.Typer):
        try:
            return typer.main.get_command(obj)
        except Exception as exc:
            _fail(f"{where} is not a usable typer app: {type(exc).__name__}: {exc}")
    if callable(getattr(obj, "make_context", None)) and callable(getattr(obj, "invoke", None)):
        command: Command = obj
        return command
    _fail(f"{where} is {type(obj).__name__}, not a typer app ({entry_point.value})")


class LazyPluginCommand(TyperCommand):
    """Stands for a plugin command in help listings; imports the real one only to run it."""

    def __init__(self, name: str, entry_point: metadata.EntryPoint) -> None:
        summary = f"from {distribution_of(entry_point)}"
        super().__init__(
            name,
            help=summary,
            short_help=summary,
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            rich_help_panel=PLUGIN_COMMANDS_PANEL,
        )
        self.entry_point = entry_point

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        # The group invokes ``sub_ctx.command``: handing back the real command's context
        # makes the real command parse the arguments (its own --help included) and run.
        real = load_command(self.entry_point)
        return real.make_context(info_name, args, parent=parent, **extra)


class PluginCommandGroup(TyperGroup):
    """The root ``ccproxy`` group: built-in commands plus plugin commands read from metadata.

    Built-in commands win over a plugin command of the same name.
    """

    _plugin_entry_points: dict[str, metadata.EntryPoint] | None = None

    def plugin_entry_points(self) -> dict[str, metadata.EntryPoint]:
        """Plugin commands by name, excluding ``auth.*`` and names of built-in commands."""
        if self._plugin_entry_points is None:
            self._plugin_entry_points = {
                name: entry_point
                for name, entry_point in sorted(command_entry_points().items())
                if not name.startswith(AUTH_PREFIX) and name not in self.commands
            }
        return self._plugin_entry_points

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *self.plugin_entry_points()]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry_point = self.plugin_entry_points().get(cmd_name)
        return LazyPluginCommand(cmd_name, entry_point) if entry_point is not None else None
