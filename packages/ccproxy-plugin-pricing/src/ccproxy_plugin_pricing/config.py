"""``plugins.pricing.*``: where prices come from, how often they are refreshed, model aliases."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ccproxy.plugins import HttpUrlStr

__all__ = [
    "CACHE_FILE_NAME",
    "DEFAULT_SOURCE_URL",
    "PricingConfig",
    "default_cache_dir",
]

#: LiteLLM's price table on GitHub (the file the ``litellm`` wheel bundles a copy of).
DEFAULT_SOURCE_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
#: The cache file's name inside the cache directory.
CACHE_FILE_NAME = "litellm-prices.json"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/ccproxy``, else ``~/.cache/ccproxy``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".cache"
    return root / "ccproxy"


class PricingConfig(BaseModel):
    """The ``plugins.pricing`` table. Unknown keys are refused, so a typo skips the plugin loudly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_url: HttpUrlStr = Field(
        DEFAULT_SOURCE_URL,
        description="Where refreshes download LiteLLM's model_prices_and_context_window.json.",
    )
    refresh_interval_hours: float = Field(
        24.0,
        ge=0,
        description="Refresh when the prices are older than this; 0 never refreshes on a schedule.",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Model name (or prefix ending in '*') → a model of the price table.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where litellm-prices.json is kept; unset means $XDG_CACHE_HOME/ccproxy.",
    )
    min_models: int = Field(
        20,
        ge=1,
        description="A downloaded table with fewer Anthropic/OpenAI chat models is refused.",
    )
    fetch_timeout_seconds: float = Field(
        60.0, gt=0, description="Time allowed for one download of the price table."
    )
    max_download_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="A larger download is refused."
    )
    initial_refresh_delay_seconds: float = Field(
        30.0,
        ge=0,
        description="Delay before the first scheduled age check after start-up.",
    )

    @field_validator("aliases")
    @classmethod
    def _aliases_need_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, target in value.items():
            if not key.strip() or not target.strip():
                raise ValueError("alias names and targets must not be empty")
        return value

    @property
    def cache_file(self) -> Path:
        """The cache file, ``<cache_dir>/litellm-prices.json``."""
        directory = self.cache_dir if self.cache_dir is not None else default_cache_dir()
        return directory / CACHE_FILE_NAME

    @property
    def refresh_interval_seconds(self) -> float:
        """``refresh_interval_hours`` in seconds (0 when refreshing is off)."""
        return self.refresh_interval_hours * 3600.0
