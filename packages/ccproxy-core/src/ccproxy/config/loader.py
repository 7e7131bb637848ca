"""Loading settings: defaults < TOML file < environment < CLI, recording where each value came from.

The loader reads every layer itself, merges them key by key and validates once, so precedence
holds for nested keys and ``plugins.<name>.*`` tables alike. ``plugins.<name>.*`` values are
carried through unchecked: each plugin validates its own table later, and a bad value skips only
that plugin.
"""

from __future__ import annotations

import json
import os
import tomllib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

from ccproxy.config.settings import Settings
from ccproxy.config.sources import (
    DEFAULT_SOURCE,
    ConfigSources,
    describe_source,
    join_key,
    split_key,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "ConfigSources",
    "SettingsError",
    "describe_source",
    "find_config_file",
    "is_secret_key",
    "load_settings",
    "mask_value",
    "parse_assignment",
]

#: Environment variable naming the config file (when ``--config`` is not given).
CONFIG_ENV_VAR = "CCPROXY_CONFIG"

#: File name looked up in the working directory.
LOCAL_CONFIG_NAME = ".ccproxy.toml"

# Key names that hold secrets, compared lower-cased with '-' as '_' (the rule of ccproxy.logging):
# auth_token, oauth_token, client_secret, api_key... but not max_tokens or credentials_file.
_SECRET_NAMES = frozenset(
    {
        "authorization",
        "api_key",
        "apikey",
        "cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "private_key",
    }
)
_SECRET_SUFFIXES = (
    "_token",
    "_secret",
    "_password",
    "_passwd",
    "_api_key",
    "_apikey",
    "_private_key",
)
_MASK = "***"


class SettingsError(ValueError):
    """Configuration that cannot be loaded; the message names each key, value and source."""

    def __init__(self, message: str, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems is not None else [message]


def is_secret_key(key: str | Sequence[str]) -> bool:
    """Whether a key's name says it holds a secret (``auth_token``, ``client_secret``, ``api_key``...)."""
    parts = key.split(".") if isinstance(key, str) else [str(part) for part in key]
    for part in parts:
        name = part.lower().replace("-", "_")
        if name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES):
            return True
    return False


def mask_value(key: str | Sequence[str], value: Any) -> Any:
    """``value`` with secrets replaced by ``***`` (by type ``SecretStr`` or by the key's name)."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or is_secret_key(key):
        return _MASK
    return value


# file discovery


def find_config_file(
    config_file: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path | None:
    """The TOML file to read: ``config_file``, else ``$CCPROXY_CONFIG``, else ``./.ccproxy.toml``,
    else ``$XDG_CONFIG_HOME/ccproxy/config.toml`` (``~/.config`` when unset); ``None`` when none exists.

    A file named explicitly (argument or ``CCPROXY_CONFIG``) that does not exist is an error.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    explicit: list[tuple[str, str]] = []
    if config_file is not None and str(config_file):
        explicit.append((str(config_file), "--config"))
    elif env.get(CONFIG_ENV_VAR):
        explicit.append((env[CONFIG_ENV_VAR], f"env {CONFIG_ENV_VAR}"))
    for text, origin in explicit:
        path = (cwd / Path(text).expanduser()).absolute()
        if not path.is_file():
            reason = "is not a file" if path.exists() else "does not exist"
            raise SettingsError(f"config file {path} {reason} (from {origin})")
        return path
    local = cwd / LOCAL_CONFIG_NAME
    if local.is_file():
        return local.absolute()
    user = _config_home(env) / "ccproxy" / "config.toml"
    return user if user.is_file() else None


def _config_home(env: Mapping[str, str]) -> Path:
    configured = env.get("XDG_CONFIG_HOME", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".config"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror or exc}") from None


# the settings schema, as far as the loader needs it

_Kind = Literal["model", "mapping", "list", "string", "scalar", "any"]


@dataclass(frozen=True)
class _Shape:
    kind: _Kind
    optional: bool = False
    model: type[BaseModel] | None = None
    item: Any = None  # the value annotation of a mapping


def _shape_of(annotation: Any) -> _Shape:
    optional = False
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = get_args(annotation)
        rest = [arg for arg in args if arg is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) != 1:
            return _Shape("any", optional)
        annotation = rest[0]
        origin = get_origin(annotation)
    if annotation is Any:
        return _Shape("any", optional)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Shape("model", optional, model=annotation)
    if origin in (dict, Mapping):
        args = get_args(annotation)
        return _Shape("mapping", optional, item=args[1] if len(args) == 2 else Any)
    if origin in (list, tuple, set, frozenset, Sequence):
        return _Shape("list", optional)
    if origin is Literal:
        kind: _Kind = (
            "string" if all(isinstance(a, str) for a in get_args(annotation)) else "scalar"
        )
        return _Shape(kind, optional)
    if isinstance(annotation, type) and issubclass(annotation, (str, SecretStr, PurePath)):
        return _Shape("string", optional)
    return _Shape("scalar", optional)


def _shape_at(path: Sequence[str]) -> _Shape | None:
    """The shape of the settings key at ``path``; ``None`` when no such key exists."""
    shape = _Shape("model", model=Settings)
    for part in path:
        if shape.kind == "model":
            assert shape.model is not None
            info = shape.model.model_fields.get(part)
            if info is None:
                return None
            shape = _shape_of(info.annotation)
        elif shape.kind == "mapping":
            shape = _shape_of(shape.item)
        elif shape.kind == "any":
            return shape
        else:
            return None
    return shape


def _coerce_text(path: Sequence[str], value: Any) -> Any:
    """Turn a string from the environment or ``--set`` into what its core key expects.

    List keys accept JSON (``["a","b"]``) or comma-separated text (``a,b``); table keys accept
    JSON. Scalars stay strings (pydantic parses ``"8001"`` and ``"true"``), and so does every
    ``plugins.<name>.*`` value, which its plugin decodes.
    """
    if not isinstance(value, str):
        return value
    shape = _shape_at(path)
    if shape is None or shape.kind in ("string", "scalar", "any"):
        return value
    text = value.strip()
    if shape.kind == "list":
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        if not text:
            return None if shape.optional else []
        return [item.strip() for item in text.split(",") if item.strip()]
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


# --set


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)  # NaN/Infinity stay text
    except ValueError:
        pass
    try:
        document = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return document["value"] if list(document) == ["value"] else text


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``--set KEY=VALUE`` into ``(dotted key, value)``.

    The value is read as JSON, else as a TOML value, else kept as a plain string, so
    ``server.port=8001``, ``plugins.codex.model_aliases={"a"="b"}`` and
    ``plugins.codex.base_url=http://x`` all work. A core key that holds text (``server.host``,
    ``security.auth_token``...) keeps the text as written; quote a ``plugins.*`` value
    (``'plugins.x.id="123"'``) to keep it a string.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SettingsError(f"--set expects KEY=VALUE, got {text!r}")
    parts = split_key(key)
    if not all(parts):
        raise SettingsError(f"--set key {key.strip()!r} is not a valid dotted key")
    value = _parse_value(raw)
    shape = _shape_at(parts)
    if shape is not None and shape.kind == "string" and not isinstance(value, str):
        value = raw
    return join_key(parts), value


# layers


class _Layers:
    """The merged configuration and the source of each leaf."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def set(self, path: Sequence[str], value: Any, source: str) -> None:
        node = self.data
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                self._forget(path[: depth + 1])
                child = node[part] = {}
            node = child
        self._merge(node, list(path), value, source)

    def _merge(self, node: dict[str, Any], path: list[str], value: Any, source: str) -> None:
        name = path[-1]
        current = node.get(name)
        if isinstance(value, dict) and isinstance(current, dict) and value:
            for key, item in value.items():
                self._merge(current, [*path, str(key)], item, source)
            return
        self._forget(path)
        node[name] = _copy(value)
        self._record(path, value, source)

    def _record(self, path: list[str], value: Any, source: str) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                self._record([*path, str(key)], item, source)
        else:
            self.sources[".".join(path)] = source

    def _forget(self, path: Sequence[str]) -> None:
        prefix = ".".join(path)
        for key in [k for k in self.sources if k == prefix or k.startswith(prefix + ".")]:
            del self.sources[key]

    def value_at(self, path: Sequence[str | int]) -> tuple[bool, Any]:
        node: Any = self.data
        for part in path:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_dict or in_list):
                return False, None
            node = node[part]
        return True, node


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


_TOP_LEVEL = tuple(Settings.model_fields)


def _check_top_level(keys: Iterable[str], origin: str) -> None:
    unknown = sorted(key for key in keys if key not in _TOP_LEVEL)
    if unknown:
        problems = [
            f"{key}: unknown setting (from {origin}); known top-level keys: {', '.join(_TOP_LEVEL)}"
            for key in unknown
        ]
        raise SettingsError("\n".join(problems), problems)


def _env_values(env: Mapping[str, str]) -> list[tuple[list[str], str, str]]:
    """``(path, value, variable name)`` for each variable that names a settings key."""
    found: list[tuple[list[str], str, str]] = []
    for name in sorted(env):
        parts = name.lower().split("__")
        if parts[0] not in _TOP_LEVEL or not all(parts):
            continue
        found.append((parts, env[name], name))
    return found


def environment_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment holds, nested, with the loader's value parsing."""
    layers = _Layers()
    for parts, value, name in _env_values(env):
        layers.set(parts, _coerce_text(parts, value), f"env:{name}")
    return layers.data


def merge_tables(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top: tables merge key by key, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge_tables(current, value)
        else:
            merged[key] = value
    return merged


def load_settings(
    *,
    config_file: Path | None = None,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cli_options: Mapping[str, str] | None = None,
) -> Settings:
    """Load ``Settings`` from defaults < TOML file < environment < CLI.

    ``config_file`` is ``--config`` (see :func:`find_config_file` for the search otherwise);
    ``cli`` maps dotted keys to values (``{"server.port": 8001}``), ``cli_options`` names the
    option each came from (``{"server.port": "--port"}``; ``--set`` when absent); ``env``
    defaults to ``os.environ`` and ``cwd`` to the working directory. The result's
    ``config_sources`` tells where each value came from. Raises :class:`SettingsError` naming
    key, value (masked when secret) and source of each bad core value.
    """
    env = os.environ if env is None else env
    layers = _Layers()

    path = find_config_file(config_file, env=env, cwd=cwd)
    if path is not None:
        document = _read_toml(path)
        file_source = f"file:{path}"
        _check_top_level(document, f"file {path}")
        for key, value in document.items():
            layers.set([key], value, file_source)

    for parts, value, name in _env_values(env):
        layers.set(parts, _coerce_text(parts, value), f"env:{name}")

    options = cli_options or {}
    for key, value in (cli or {}).items():
        parts = split_key(key)
        option = options.get(key, "--set")
        _check_top_level(parts[:1], option)
        layers.set(parts, _coerce_text(parts, value), f"cli:{option}")

    try:
        settings = Settings.model_validate(layers.data)
    except ValidationError as exc:
        problems = [_describe_error(error, layers) for error in exc.errors()]
        raise SettingsError("\n".join(problems), problems) from None
    settings._config_sources = ConfigSources(
        config_file=path, values=dict(sorted(layers.sources.items()))
    )
    return settings


def _describe_error(error: Any, layers: _Layers) -> str:
    loc = [part for part in error["loc"] if isinstance(part, (str, int))]
    key = ".".join(str(part) for part in loc) or "(settings)"
    parts = [str(part) for part in loc]
    sources = ConfigSources(values=layers.sources)
    found_sources = [sources.source_of(parts)]
    if found_sources == [DEFAULT_SOURCE]:
        # A table given where a scalar belongs: its leaves carry the sources.
        found_sources = sorted(set(sources.keys_under(".".join(parts)).values())) or found_sources
    found, value = layers.value_at(loc)
    if not found:
        value = error.get("input")
    shown = _MASK if is_secret_key(parts) and value is not None else _short_repr(value)
    if found_sources == [DEFAULT_SOURCE]:
        origin = "default"
    else:
        origin = "from " + ", ".join(describe_source(source) for source in found_sources)
    return f"{key} = {shown} ({origin}): {error['msg']}"


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
