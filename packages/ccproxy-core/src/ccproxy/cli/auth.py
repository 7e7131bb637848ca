"""``ccproxy auth login|status|refresh|logout PROVIDER``: dispatch to the provider's commands.

An auth provider plugin names an :class:`~ccproxy.auth.OAuthProvider` under the
``ccproxy.commands`` entry point ``auth.<provider>`` (for example ``auth.claude =
"ccproxy_plugin_claude.oauth_provider:oauth_provider"``) and core builds the four commands from
it (:mod:`ccproxy.cli.auth_commands`); a typer app with those commands works too. Everything after
PROVIDER goes to the provider's command unchanged, its own ``--help`` included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from ccproxy.cli.plugin_commands import (
    auth_provider_entry_points,
    distribution_of,
    load_command,
)

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

__all__ = ["ACTIONS", "INSTALL_HINT", "AuthGroup", "auth_app", "dispatch"]

ACTIONS: dict[str, str] = {
    "login": "Log in to PROVIDER and store its credentials.",
    "status": "Show whether PROVIDER's credentials are present and valid.",
    "refresh": "Refresh PROVIDER's access token now.",
    "logout": "Forget PROVIDER's stored credentials.",
}

INSTALL_HINT = "pip install ccproxy-plugin-claude  (or ccproxy-plugin-codex)"


class AuthGroup(TyperGroup):
    """The ``auth`` group; its help ends with the installed providers."""

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        providers = sorted(auth_provider_entry_points().items())
        listed = ", ".join(f"{name} (from {distribution_of(ep)})" for name, ep in providers)
        self.epilog = (
            f"Installed providers: {listed}."
            if providers
            else f"No auth providers are installed. Install one: {INSTALL_HINT}"
        )
        super().format_help(ctx, formatter)


auth_app = typer.Typer(
    name="auth",
    cls=AuthGroup,
    help="Log in to a provider and manage its credentials (handled by the provider's plugin).",
    no_args_is_help=True,
    add_completion=False,
)


def _action_command(command: Command, action: str, ctx: Context) -> Command | None:
    get_command = getattr(command, "get_command", None)
    if callable(get_command):
        found: Command | None = get_command(ctx, action)
        return found
    return command if command.name == action else None


def dispatch(ctx: Context, action: str, provider: str) -> Any:
    """Run ``action`` of ``provider``'s CLI with the arguments left in ``ctx.args``."""
    providers = auth_provider_entry_points()
    entry_point = providers.get(provider)
    if entry_point is None:
        if providers:
            known = ", ".join(sorted(providers))
            message = f"no auth provider named {provider!r}; installed providers: {known}"
        else:
            message = f"no auth provider named {provider!r}: none is installed. Install one: {INSTALL_HINT}"
        typer.echo(f"ccproxy: {message}", err=True)
        raise typer.Exit(1)
    command = load_command(entry_point)
    target = _action_command(command, action, ctx)
    if target is None:
        typer.echo(
            f"ccproxy: auth provider {provider!r} (from {distribution_of(entry_point)}) "
            f"has no {action!r} command",
            err=True,
        )
        raise typer.Exit(1)
    # Parented to the auth group so that usage reads "ccproxy auth login PROVIDER [OPTIONS]".
    info_name = f"{ctx.info_name} {provider}"
    with target.make_context(info_name, list(ctx.args), parent=ctx.parent or ctx) as sub_ctx:
        return target.invoke(sub_ctx)


def _register(action: str, help_text: str) -> None:
    def command(
        ctx: typer.Context,
        provider: Annotated[
            str, typer.Argument(metavar="PROVIDER", help="The provider, e.g. claude or codex.")
        ],
    ) -> Any:
        if provider.startswith("-"):
            raise typer.BadParameter(
                f"expected a provider name before any option, got {provider!r}",
                param_hint="PROVIDER",
            )
        return dispatch(ctx, action, provider)

    command.__name__ = action
    auth_app.command(
        action,
        help=f"{help_text} Options after PROVIDER go to the provider's command.",
        short_help=help_text,
        context_settings={
            # Everything after PROVIDER (--help too) belongs to the provider's command.
            "allow_interspersed_args": False,
            "ignore_unknown_options": True,
            "allow_extra_args": True,
        },
    )(command)


for _action, _help in ACTIONS.items():
    _register(_action, _help)
