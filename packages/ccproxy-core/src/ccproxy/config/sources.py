"""Where each value of loaded settings came from, and the dotted keys that name them."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SOURCE",
    "MIXED_SOURCE",
    "ConfigSources",
    "describe_source",
    "join_key",
    "split_key",
]

DEFAULT_SOURCE = "default"
#: The source of a table whose nested keys came from several places.
MIXED_SOURCE = "mixed"


@dataclass(frozen=True)
class ConfigSources:
    """Where each value of a loaded ``Settings`` came from.

    ``values`` maps a dotted leaf key (``server.port``, ``plugins.codex.base_url``) to its source:
    ``"file:/path/config.toml"``, ``"env:SERVER__PORT"``, ``"cli:--set"``, ``"cli:--port"``...
    Keys absent from it hold their defaults.
    """

    config_file: Path | None = None
    values: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, key: str | Sequence[str]) -> str:
        """The source of ``key`` (or of the nearest enclosing key that was set); for a table set
        only through nested keys, their source (``"mixed"`` when they differ); else ``"default"``."""
        parts = split_key(key) if isinstance(key, str) else [str(part) for part in key]
        for end in range(len(parts), 0, -1):
            source = self.values.get(".".join(parts[:end]))
            if source is not None:
                return source
        nested = set(self.keys_under(".".join(parts)).values())
        if len(nested) == 1:
            return nested.pop()
        if nested:
            return MIXED_SOURCE
        return DEFAULT_SOURCE

    def describe(self, key: str | Sequence[str]) -> str:
        """The source of ``key`` for people: ``env SERVER__PORT``, ``file /path``, ``--set``, ``default``."""
        return describe_source(self.source_of(key))

    def keys_under(self, prefix: str) -> dict[str, str]:
        """Every recorded leaf key below ``prefix`` (dotted), with its source."""
        start = prefix + "."
        return {key: source for key, source in self.values.items() if key.startswith(start)}


def describe_source(source: str) -> str:
    """``env:SERVER__PORT`` → ``env SERVER__PORT``; ``file:/p`` → ``file /p``; ``cli:--set`` → ``--set``."""
    kind, _, detail = source.partition(":")
    if kind == "cli":
        return detail
    if kind in ("env", "file"):
        return f"{kind} {detail}"
    if source == MIXED_SOURCE:
        return "several sources"
    return source


def split_key(key: str) -> list[str]:
    """``server.port`` → ``["server", "port"]``; TOML quoting keeps dots in a part:
    ``plugins.codex.model_aliases."gpt-4.1"``."""
    text = key.strip()
    try:
        parsed: Any = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        return [part.strip() for part in text.split(".")]
    parts: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        ((name, parsed),) = parsed.items()
        parts.append(name)
    return parts


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def join_key(parts: Sequence[str]) -> str:
    """The inverse of :func:`split_key`: parts that are not bare TOML keys are quoted."""
    return ".".join(part if _BARE_KEY.match(part) else json.dumps(part) for part in parts)
