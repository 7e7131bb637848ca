"""The core's settings model.

Plugin settings live under ``plugins.<name>`` as raw tables; each plugin's ``config_class``
validates its own table, so a bad plugin value skips only that plugin.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from ccproxy.config.sources import ConfigSources

__all__ = [
    "LOOPBACK_HOSTS",
    "HttpSettings",
    "LoggingSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "StateSettings",
    "default_plugin_dirs",
]

#: Host names that always mean "this machine"; the default ``security.allowed_hosts``.
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

MIB = 1024 * 1024


def default_plugin_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """``./plugins`` and ``$XDG_CONFIG_HOME/ccproxy/plugins`` (``~/.config`` when unset)."""
    env = os.environ if env is None else env
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path.cwd() / "plugins", config_home / "ccproxy" / "plugins"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ServerSettings(_Section):
    """Where the proxy listens and how much it accepts."""

    host: str = Field(
        "127.0.0.1",
        description="Interface to bind. Anything but loopback needs security.auth_token.",
    )
    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind (0 picks a free one).")
    max_request_body_bytes: int = Field(
        32 * MIB,
        ge=1,
        description="Largest request body accepted; larger ones get 413 in the client's dialect.",
    )
    max_request_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request head (request line and headers) accepted; a larger one gets "
        "431 and the connection is closed. Claude Code and Codex send a few KiB.",
    )
    request_read_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait for a request's headers (from the connection or the request's "
        "first byte) or for the next piece of its body; a client that stalls longer gets 408 "
        "and the connection is closed.",
    )
    keep_alive_seconds: int = Field(
        75,
        ge=1,
        description="How long an idle client connection stays open for its next request. Longer "
        "than clients keep idle connections (httpx 5 s, Node 4 s), so a client never reuses a "
        "connection at the moment the server closes it.",
    )
    workers: int = Field(
        1,
        ge=1,
        description="Worker processes serving the one port. More than one shares the listening "
        "socket; Prometheus metrics and the usage ledger are shared, other state is per process "
        "(ccproxy serve lists it at start).",
    )


class SecuritySettings(_Section):
    """Client authentication and browser-facing protections."""

    auth_token: SecretStr | None = Field(
        None,
        description="When set, every route but /health needs 'Authorization: Bearer <token>' or "
        "'x-api-key: <token>' (browsers: the ccproxy_token cookie the permissions page's sign-in "
        "sets), and /health without it answers only its status.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: list(LOOPBACK_HOSTS),
        description="Host header values accepted (DNS-rebinding guard); '*' accepts any.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origin header values accepted (CSRF guard); requests with any other Origin are refused.",
    )

    @field_validator("auth_token")
    @classmethod
    def _empty_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


class HttpSettings(_Section):
    """The shared upstream HTTP client."""

    connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Time allowed to open an upstream connection."
    )
    read_timeout_seconds: float = Field(
        600.0, gt=0, description="Idle time allowed between upstream bytes (stream chunks)."
    )
    pool_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Time a request waits for a free upstream connection when max_connections "
        "are all busy; then the client gets 503 with retry-after.",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Upper bound on open upstream connections: one per concurrent request or "
        "stream.",
    )
    max_keepalive_connections: int = Field(
        100, ge=0, description="Idle upstream connections kept for reuse."
    )


class StateSettings(_Section):
    """State several proxy processes share: cooldowns, session pins, the response store."""

    redis_url: SecretStr | None = Field(
        None,
        description="redis://[user:password@]host:port/db, rediss:// or unix:///path. Set, every "
        "process and host using the same Redis shares its state and serialises credential "
        "refreshes; unset, state stays in each process.",
    )
    key_prefix: str = Field(
        "ccproxy:", min_length=1, description="Prefix of every key ccproxy writes in Redis."
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("a unix:// URL needs the socket's path")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("needs a host, e.g. redis://127.0.0.1:6379/0")
        return value


class LoggingSettings(_Section):
    """Log output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Lowest level logged."
    )
    format: Literal["console", "json"] | None = Field(
        None, description="'console' or 'json'; unset means console on a TTY, else json."
    )
    trace_dir: Path | None = Field(
        None, description="When set, one redacted transcript per proxied request is written here."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseModel):
    """Everything the core reads from configuration.

    Precedence, lowest first: defaults < TOML file < environment < CLI. Environment variables are
    nested with ``__`` and carry no prefix (``SERVER__PORT=8001``, ``PLUGINS__METRICS__ENABLED=false``).
    ``Settings(...)`` holds exactly what it is given (handy in tests); ``load_settings()`` applies
    the full chain, and ``create_app()`` without settings calls it.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    server: ServerSettings = Field(default_factory=ServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-plugin tables, validated by each plugin's config_class.",
    )
    enabled_plugins: list[str] | None = Field(
        None, description="Allow list: when set, only these plugins load."
    )
    disabled_plugins: list[str] = Field(default_factory=list, description="Plugins never loaded.")
    plugins_disable_local_discovery: bool = Field(
        False,
        description="Load plugins only from installed entry points, not from plugin directories.",
    )
    plugin_dirs: list[Path] | None = Field(
        None,
        description="Directories searched for local plugins; unset means ./plugins and $XDG_CONFIG_HOME/ccproxy/plugins.",
    )

    # Set by ccproxy.config.load_settings; read through ``config_sources``.
    _config_sources: ConfigSources | None = PrivateAttr(default=None)

    @property
    def config_sources(self) -> ConfigSources:
        """Where each value came from (file, environment variable, CLI option or default).

        Only ``load_settings`` records sources; for settings built otherwise every value reads
        as ``"default"``.
        """
        return self._config_sources if self._config_sources is not None else ConfigSources()

    def local_plugin_dirs(self, env: Mapping[str, str] | None = None) -> list[Path]:
        """The folders searched for local plugins: none when ``plugins_disable_local_discovery``
        is set, else ``plugin_dirs``, else :func:`default_plugin_dirs`."""
        if self.plugins_disable_local_discovery:
            return []
        if self.plugin_dirs is not None:
            return list(self.plugin_dirs)
        return default_plugin_dirs(env)

    def plugin_table(self, name: str) -> dict[str, Any]:
        """The raw ``plugins.<name>`` table (empty when absent)."""
        return dict(self.plugins.get(name, {}))

    def plugin_enabled_flag(self, name: str) -> bool | None:
        """``plugins.<name>.enabled`` as a bool, or None when unset."""
        value = self.plugins.get(name, {}).get("enabled")
        if value is None:
            return None
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
