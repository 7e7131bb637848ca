"""Validating a plugin's ``plugins.<name>`` table against its ``config_class``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from ccproxy.config.sources import ConfigSources

__all__ = ["PluginConfigError", "validate_plugin_config"]


class PluginConfigError(ValueError):
    """A plugin's table does not validate; the message names each bad key.

    ``problems`` holds one line per bad key: ``plugins.NAME.KEY = VALUE (from SOURCE): why``
    (secrets masked; the value and source are left out when no sources were given).
    """

    def __init__(self, message: str, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems is not None else [message]


def validate_plugin_config(
    name: str,
    config_class: type[BaseModel] | None,
    table: dict[str, Any],
    *,
    sources: ConfigSources | None = None,
) -> BaseModel | None:
    """Validate ``table`` for plugin ``name``.

    ``enabled`` belongs to the core and reaches the model only if it declares that field. Strings
    from the environment or ``--set`` that hold JSON are decoded for non-string fields. With
    ``sources`` (``settings.config_sources``) each problem also names the value and where it
    came from.
    """
    if config_class is None:
        return None
    data = dict(table)
    fields = config_class.model_fields
    if "enabled" not in fields:
        data.pop("enabled", None)
    for key, value in list(data.items()):
        field = fields.get(key)
        if field is None or not isinstance(value, str) or field.annotation is str:
            continue
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                data[key] = json.loads(stripped)
    try:
        return config_class.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(name, error, table, sources) for error in exc.errors()]
        raise PluginConfigError("; ".join(problems), problems) from None


def _describe(name: str, error: Any, table: dict[str, Any], sources: ConfigSources | None) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(["plugins", name, *loc])
    if sources is None:
        return f"{key}: {error['msg']}"
    from ccproxy.config.loader import is_secret_key
    from ccproxy.config.types import HEADER_VALUE_ERROR

    value: Any = table
    for part in loc:
        if not isinstance(value, dict) or part not in value:
            value = error.get("input")
            break
        value = value[part]
    # A header's value may be a credential: a bad one is named by its key alone.
    concealed = is_secret_key(loc) or "headers" in loc[:-1] or error["type"] == HEADER_VALUE_ERROR
    shown = "***" if concealed and value is not None else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    source = sources.describe(["plugins", name, *loc])
    origin = "default" if source == "default" else f"from {source}"
    return f"{key} = {shown} ({origin}): {error['msg']}"
