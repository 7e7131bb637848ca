"""``plugins.permissions.*``: how long a request waits, what is kept, and the rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PermissionsConfig", "Rule"]


class Rule(BaseModel):
    """One ``[[plugins.permissions.rules]]`` entry; the first matching rule decides.

    ``tool`` and ``match`` are fnmatch patterns (case-sensitive) on the whole tool name and
    on the whole value of ``field`` in the tool input (non-string values are compared as
    compact JSON). Without ``field`` only the tool name is matched. Rules are a convenience,
    not a sandbox: a pattern can always be dodged by an equivalent command.
    """

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(..., min_length=1, description="fnmatch pattern on the tool name.")
    field: str | None = Field(None, description="Key of the tool input to match.")
    match: str = Field("*", description="fnmatch pattern on the whole value of `field`.")
    action: Literal["allow", "deny"] = Field(..., description="What a match decides.")
    message: str | None = Field(None, description="Message sent with a deny.")


class PermissionsConfig(BaseModel):
    """Settings of the permissions plugin (``enabled`` belongs to the core)."""

    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float = Field(
        120.0, gt=0, description="How long a request waits for a person before it is denied."
    )
    retention_seconds: float = Field(
        600.0, ge=0, description="How long decided and expired requests stay listed."
    )
    max_retained: int = Field(
        1000, ge=0, description="Most decided requests kept; the oldest go first."
    )
    max_pending: int = Field(
        1000, ge=1, description="Most requests waiting at once; beyond it requests are denied."
    )
    keepalive_seconds: float = Field(
        15.0, gt=0, description="Seconds between SSE keepalive comments."
    )
    rules: list[Rule] = Field(default_factory=list, description="Checked in order before asking.")
    preload_mcp: bool = Field(
        True,
        description=(
            "Load and start the MCP server in the background right after start-up, so the first"
            " MCP client (Claude Code connects without waiting) is answered in milliseconds."
            " false defers the MCP SDK (about 24 MiB) to the first request to /permissions/mcp."
        ),
    )
