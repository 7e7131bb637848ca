"""The ``ccproxy`` console script: built-in commands plus commands that plugins add."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from ccproxy._version import __version__
from ccproxy.cli.auth import auth_app
from ccproxy.cli.config_command import config_app
from ccproxy.cli.plugin_commands import PluginCommandGroup
from ccproxy.cli.plugins import plugins_app
from ccproxy.cli.serve import serve

__all__ = ["app", "main"]

app = typer.Typer(
    name="ccproxy",
    cls=PluginCommandGroup,
    help="Local proxy serving your Claude and ChatGPT subscriptions through the standard LLM APIs.",
    epilog="Plugins add commands through the 'ccproxy.commands' entry point group.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Locals of a crashing command may hold tokens: never print them.
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ccproxy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Show the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Local proxy serving your Claude and ChatGPT subscriptions through the standard LLM APIs."""


app.command("serve")(serve)
app.add_typer(plugins_app)
app.add_typer(config_app)
app.add_typer(auth_app)


def main(args: Sequence[str] | None = None) -> Any:
    """Run the CLI (the ``ccproxy`` console script and ``python -m ccproxy``)."""
    return app(args=list(args) if args is not None else None, prog_name="ccproxy")
