"""Provider profiles: what an upstream requires, as data (DESIGN §4 "Provider profiles are data").

Each provider plugin ships a ``profile.toml`` loaded with ``importlib.resources`` and overridable
under ``plugins.<name>.profile.*``. The edits below apply to the upstream request body and
headers after conversion (or to the lightly edited body on the passthrough branch).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from ccproxy.config.types import HeaderName, HeaderValue
from ccproxy.llm.ir import WireFormat
from ccproxy.proxy.headers import merge_beta_header

__all__ = [
    "BILLING_HEADER_PREFIX",
    "ProfileOverrides",
    "ProviderProfile",
    "apply_body_profile",
    "apply_header_profile",
    "count_cache_control_blocks",
]

#: Claude Code's per-request system line; never counts as the start of the system prompt.
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


class ProviderProfile(BaseModel):
    """What one upstream requires of every request."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, description="Headers set on every upstream request."
    )
    required_betas: list[str] = Field(
        default_factory=list,
        description="anthropic-beta tags merged with the client's (never others).",
    )
    identity_system_prompt: str | None = Field(
        None,
        description="Text the system prompt must open with; prepended as its own block when absent.",
    )
    drop_params: list[str] = Field(
        default_factory=list, description="Top-level body fields removed."
    )
    drop_null_params: list[str] = Field(
        default_factory=list, description="Top-level fields removed when null."
    )
    force_params: dict[str, Any] = Field(
        default_factory=dict, description="Top-level fields set to these values."
    )
    max_cache_control_blocks: int | None = Field(
        None, description="Most cache_control markers one request may carry."
    )
    session_header: str | None = Field(
        None, description="Header carrying the conversation key on converted traffic."
    )
    originator: str | None = Field(None, description="Value of the 'originator' header.")
    add_cache_breakpoints: bool = Field(
        False,
        description="Add cache breakpoints to converted requests that carry none (within the cap).",
    )

    @classmethod
    def load(
        cls,
        package: str,
        overrides: Mapping[str, Any] | None = None,
        resource: str = "profile.toml",
    ) -> ProviderProfile:
        """The profile shipped in ``package`` with ``overrides`` applied (tables merge, values replace)."""
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
        data = tomllib.loads(text)
        if overrides:
            data = _deep_merge(data, dict(overrides))
        return cls.model_validate(data)


@with_config(ConfigDict(extra="allow"))
class ProfileOverrides(TypedDict, total=False):
    """A plugin's ``profile`` setting: overrides of its shipped profile, kept as a plain dict.

    Its ``headers`` are checked when the configuration is loaded (a CR, LF or NUL in one would
    fail every request later); every other key is checked when the profile is built.
    """

    headers: dict[HeaderName, HeaderValue]


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_header_profile(
    profile: ProviderProfile, headers: dict[str, str], *, conversation_key: str | None = None
) -> None:
    """Set the profile's headers, merge beta tags, originator and the session header (in place)."""
    for name, value in profile.headers.items():
        headers[name.lower()] = value
    if profile.required_betas:
        merged = merge_beta_header(headers.get("anthropic-beta"), profile.required_betas)
        if merged:
            headers["anthropic-beta"] = merged
    if profile.originator:
        headers["originator"] = profile.originator
    if profile.session_header and conversation_key:
        headers[profile.session_header.lower()] = conversation_key


def apply_body_profile(
    profile: ProviderProfile, body: dict[str, Any], *, upstream_format: WireFormat, converted: bool
) -> dict[str, Any]:
    """A copy of ``body`` with the profile's parameter edits, identity prompt and cache rules."""
    body = copy.copy(body)
    for name in profile.drop_params:
        body.pop(name, None)
    for name in profile.drop_null_params:
        if name in body and body[name] is None:
            del body[name]
    body.update(profile.force_params)
    if upstream_format == "anthropic":
        if profile.identity_system_prompt:
            body["system"] = _with_identity(body.get("system"), profile.identity_system_prompt)
        if converted and profile.add_cache_breakpoints and count_cache_control_blocks(body) == 0:
            _add_cache_breakpoints(body, profile.max_cache_control_blocks or 4)
        if profile.max_cache_control_blocks is not None:
            _cap_cache_control(body, profile.max_cache_control_blocks)
    return body


def _with_identity(system: Any, identity: str) -> Any:
    """``system`` opening with ``identity`` (after any leading billing-header blocks)."""
    if system is None or system == "" or system == []:
        return [{"type": "text", "text": identity}]
    if isinstance(system, str):
        if system.startswith(identity):
            return system
        return [{"type": "text", "text": identity}, {"type": "text", "text": system}]
    if not isinstance(system, list):
        return system
    blocks = [copy.copy(block) if isinstance(block, dict) else block for block in system]
    position = 0
    while (
        position < len(blocks)
        and isinstance(blocks[position], dict)
        and str(blocks[position].get("text", "")).startswith(BILLING_HEADER_PREFIX)
    ):
        position += 1
    if position < len(blocks):
        first = blocks[position]
        if isinstance(first, dict) and str(first.get("text", "")).startswith(identity):
            return blocks
    blocks.insert(position, {"type": "text", "text": identity})
    return blocks


def _cache_marked_blocks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every block carrying ``cache_control``, labelled tools|system|messages, in request order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("cache_control") is not None:
            found.append(("tools", tool))
    system = body.get("system")
    if isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and block.get("cache_control") is not None:
                found.append(("system", block))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("cache_control") is not None:
                    found.append(("messages", block))
    return found


def count_cache_control_blocks(body: dict[str, Any]) -> int:
    """How many blocks of an Anthropic body carry ``cache_control``."""
    return len(_cache_marked_blocks(body))


def _cap_cache_control(body: dict[str, Any], limit: int) -> None:
    """Keep at most ``limit`` markers: the tools and system ones first (the stable prefix), then
    the latest message ones; the oldest message markers go first. Edits copies of blocks."""
    marked = _cache_marked_blocks(body)
    excess = len(marked) - limit
    if excess <= 0:
        return
    removable = [block for kind, block in marked if kind == "messages"]
    removable += [block for kind, block in marked if kind == "system"]
    removable += [block for kind, block in marked if kind == "tools"]
    doomed = {id(block) for block in removable[:excess]}
    _rewrite_blocks(
        body,
        lambda block: (
            {k: v for k, v in block.items() if k != "cache_control"}
            if id(block) in doomed
            else block
        ),
    )


def _rewrite_blocks(body: dict[str, Any], edit: Any) -> None:
    if isinstance(body.get("tools"), list):
        body["tools"] = [edit(t) if isinstance(t, dict) else t for t in body["tools"]]
    if isinstance(body.get("system"), list):
        body["system"] = [edit(b) if isinstance(b, dict) else b for b in body["system"]]
    if isinstance(body.get("messages"), list):
        messages = []
        for message in body["messages"]:
            if isinstance(message, dict) and isinstance(message.get("content"), list):
                message = {
                    **message,
                    "content": [edit(b) if isinstance(b, dict) else b for b in message["content"]],
                }
            messages.append(message)
        body["messages"] = messages


def _add_cache_breakpoints(body: dict[str, Any], limit: int) -> None:
    """Mark the end of the system prompt and the last user turn as cache breakpoints."""
    budget = max(limit, 0)
    marker = {"type": "ephemeral"}
    system = body.get("system")
    if budget and isinstance(system, list) and system and isinstance(system[-1], dict):
        body["system"] = [*system[:-1], {**system[-1], "cache_control": marker}]
        budget -= 1
    elif budget and isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": marker}]
        budget -= 1
    messages = body.get("messages")
    if not budget or not isinstance(messages, list):
        return
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str) and content:
            content = [{"type": "text", "text": content}]
        if isinstance(content, list) and content and isinstance(content[-1], dict):
            last = content[-1]
            if last.get("type") in ("text", "image", "tool_result", "document"):
                messages = list(messages)
                messages[position] = {
                    **message,
                    "content": [*content[:-1], {**last, "cache_control": marker}],
                }
                body["messages"] = messages
        return
