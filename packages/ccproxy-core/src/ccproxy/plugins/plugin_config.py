"""Validating a plugin's ``plugins.<name>`` table against its ``config_class``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["PluginConfigError", "validate_plugin_config"]


class PluginConfigError(ValueError):
    """A plugin's table does not validate; the message names each bad key."""


def validate_plugin_config(
    name: str, config_class: type[BaseModel] | None, table: dict[str, Any]
) -> BaseModel | None:
    """Validate ``table`` for plugin ``name``.

    ``enabled`` belongs to the core and reaches the model only if it declares that field. Strings
    from the environment or ``--set`` that hold JSON are decoded for non-string fields.
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
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            problems.append(f"plugins.{name}.{key}: {error['msg']}")
        raise PluginConfigError("; ".join(problems)) from None
