"""What a plugin's ``ccproxy`` sub-commands need: the shared options, settings, the server.

A plugin adds commands through the ``ccproxy.commands`` entry point group (a Typer app). These
helpers give its commands the same ``--config``/``--set``/``--json``/``--port`` options, the
same settings loading (exit 2 with the problems on stderr when invalid) and the same address of
the running server (:func:`server_url`) as the core's own commands. An auth provider writes no
commands: core builds them from its :class:`~ccproxy.auth.OAuthProvider` (:func:`auth_commands`).
Imported only by command modules, so Typer is never loaded by ``ccproxy serve``'s request path.
"""

from __future__ import annotations

from ccproxy.cli.auth_commands import auth_commands
from ccproxy.cli.auth_status import in_words, server_url, window_label
from ccproxy.cli.options import (
    ConfigOption,
    JsonOption,
    ServerPortOption,
    SetOption,
    load_cli_settings,
)

__all__ = [
    "ConfigOption",
    "JsonOption",
    "ServerPortOption",
    "SetOption",
    "auth_commands",
    "in_words",
    "load_cli_settings",
    "server_url",
    "window_label",
]
