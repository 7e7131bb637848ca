"""``plugins.metrics.*``: where the ledger lives and whether (and where) metrics are pushed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ccproxy.plugins import HttpUrlStr

__all__ = ["LEDGER_FILE_NAME", "MetricsConfig", "default_ledger_path"]

#: The ledger's file name inside ``$XDG_STATE_HOME/ccproxy``.
LEDGER_FILE_NAME: Final = "usage.sqlite3"


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/ccproxy/usage.sqlite3`` (``~/.local/state`` when unset).

    The XDG spec says a relative ``XDG_STATE_HOME`` is invalid and must be ignored.
    """
    env = os.environ if env is None else env
    configured = env.get("XDG_STATE_HOME", "")
    base = Path(configured) if configured and Path(configured).is_absolute() else None
    if base is None:
        base = Path.home() / ".local" / "state"
    return base / "ccproxy" / LEDGER_FILE_NAME


class MetricsConfig(BaseModel):
    """Settings of the metrics plugin (``plugins.metrics.*``; ``enabled`` belongs to the core)."""

    model_config = ConfigDict(extra="forbid")

    ledger_enabled: bool = Field(
        True, description="Record one row per proxied request in the SQLite usage ledger."
    )
    ledger_path: Path = Field(
        default_factory=default_ledger_path,
        description="The usage ledger (SQLite, WAL mode). Default: $XDG_STATE_HOME/ccproxy/usage.sqlite3.",
    )
    ledger_queue_size: int = Field(
        10_000,
        ge=1,
        description="Rows waiting to be written; when full, new rows are dropped with a warning.",
    )
    pushgateway_url: HttpUrlStr | None = Field(
        None,
        description="Prometheus Pushgateway base URL (e.g. http://127.0.0.1:9091); unset means no push.",
    )
    pushgateway_interval_seconds: float = Field(
        60.0, gt=0, description="Seconds between two pushes to the Pushgateway."
    )
    pushgateway_job: str = Field(
        "ccproxy", min_length=1, description="The Pushgateway job the metrics are grouped under."
    )

    @field_validator("ledger_path")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("pushgateway_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("pushgateway_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None
