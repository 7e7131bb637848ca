"""The Copilot model catalogue and which of its models serves the name a client asked for.

The catalogue is the backend's ``GET /models`` (dotted ids such as ``claude-sonnet-4.5``, each with
its ``supported_endpoints``), fetched with the request's own credential and kept for
``models_ttl_seconds``; an unknown name refetches it (at most every
``models_miss_refresh_seconds``).

A client's name is resolved in order:

1. ``plugins.copilot.model_aliases`` (exact beats ``prefix*``, the longest prefix wins); the
   target is then resolved like a client name (so an alias may use SDK-style names too);
2. the catalogue id itself (case-insensitive);
3. the SDK-style spelling of a catalogue id: Claude Code's ``[1m]`` suffix and a release date
   (``-20250929``) dropped, version digits dotted (``claude-sonnet-4-5`` → ``claude-sonnet-4.5``);
4. the newest version of the same Claude family (tier and variant: ``claude-opus-4-8`` →
   ``claude-opus-4.6`` when 4.6 is the newest Opus the account has);
5. ``default_model``; else a 400 naming the available models.

Before the catalogue could be fetched, names pass through in their dotted spelling. The client's
name is restored in every response (the core pipeline does that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccproxy.plugins.provider import (
    AliasResolution,
    ModelAliases,
    UnknownModelError,
    WireFormat,
)

__all__ = [
    "ENDPOINT_FORMATS",
    "Catalogue",
    "CatalogueModel",
    "CopilotModelAliases",
    "choose_format",
    "sdk_spellings",
]

#: ``supported_endpoints`` values and the wire format each one speaks.
ENDPOINT_FORMATS: dict[str, WireFormat] = {
    "/chat/completions": "chat",
    "/responses": "responses",
    "/v1/messages": "anthropic",
}
_ENDPOINT_SPELLINGS: dict[str, WireFormat] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/messages": "anthropic",
}
#: When the client's own format is not served: the richest format the model serves.
_PREFERRED: tuple[WireFormat, ...] = ("anthropic", "responses", "chat")

_SUFFIX = re.compile(r"\[[^\]]*\]$")
_DATE = re.compile(r"-(?:\d{8}|latest)$")
_DIGIT_DASH = re.compile(r"(?<=\d)-(?=\d)")
_CLAUDE = re.compile(
    r"^claude-(?:(?P<tier>[a-z]+)-(?P<version>\d+(?:\.\d+)*)"
    r"|(?P<version2>\d+(?:\.\d+)*)-(?P<tier2>[a-z]+))(?P<variant>(?:-[a-z0-9.]+)*)$"
)


@dataclass(frozen=True)
class CatalogueModel:
    """One entry of ``GET /models``."""

    id: str
    formats: tuple[WireFormat, ...]
    vendor: str | None = None
    name: str | None = None
    enabled: bool = True
    #: Premium-request multiplier (``billing.multiplier``) when the backend states it.
    multiplier: float | None = None
    #: The most output tokens one answer may have (``capabilities.limits.max_output_tokens``).
    max_output_tokens: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CatalogueModel | None:
        """The entry, or ``None`` for what is not a chat model (embeddings) or has no id."""
        model_id = raw.get("id")
        if not isinstance(model_id, str) or not model_id:
            return None
        capabilities = raw.get("capabilities")
        kind = capabilities.get("type") if isinstance(capabilities, dict) else None
        if kind not in (None, "chat"):
            return None
        endpoints = raw.get("supported_endpoints")
        formats: list[WireFormat] = []
        if isinstance(endpoints, list):
            for endpoint in endpoints:
                if not isinstance(endpoint, str):
                    continue
                found = ENDPOINT_FORMATS.get(endpoint) or _ENDPOINT_SPELLINGS.get(endpoint)
                if found is not None and found not in formats:
                    formats.append(found)
        if not formats:  # older entries list nothing: every model speaks Chat
            formats.append("chat")
        policy = raw.get("policy")
        billing = raw.get("billing")
        multiplier = billing.get("multiplier") if isinstance(billing, dict) else None
        limits = capabilities.get("limits") if isinstance(capabilities, dict) else None
        max_output = limits.get("max_output_tokens") if isinstance(limits, dict) else None
        return cls(
            id=model_id,
            formats=tuple(formats),
            vendor=raw.get("vendor") if isinstance(raw.get("vendor"), str) else None,
            name=raw.get("name") if isinstance(raw.get("name"), str) else None,
            enabled=not (isinstance(policy, dict) and policy.get("state") == "disabled"),
            multiplier=float(multiplier) if isinstance(multiplier, int | float) else None,
            max_output_tokens=max_output
            if isinstance(max_output, int) and not isinstance(max_output, bool) and max_output > 0
            else None,
        )


def choose_format(client_format: WireFormat, model: CatalogueModel | None, name: str) -> WireFormat:
    """The upstream format for a request: the client's own when the model serves it (a
    passthrough), else the richest one it serves (Messages, then Responses, then Chat)."""
    if model is None:  # not in the catalogue (yet): Codex models speak only Responses
        formats: tuple[WireFormat, ...] = ("responses",) if "codex" in name else ("chat",)
    else:
        formats = model.formats
    if client_format in formats:
        return client_format
    return next(f for f in _PREFERRED if f in formats)


def sdk_spellings(name: str) -> list[str]:
    """``name`` and its catalogue spellings, best guess last: without a ``[..]`` suffix and, for
    Claude names, without a release date and with version digits dotted."""
    spellings = [name]
    bare = _SUFFIX.sub("", name.strip()).lower()
    candidates = [bare]
    if bare.startswith("claude"):
        dateless = _DATE.sub("", bare)
        candidates += [dateless, _DIGIT_DASH.sub(".", bare), _DIGIT_DASH.sub(".", dateless)]
    for spelled in candidates:
        if spelled not in spellings:
            spellings.append(spelled)
    return spellings


def _claude_family(model_id: str) -> tuple[str, str, tuple[int, ...]] | None:
    """``(tier, variant, version)`` of a dotted Claude id (``claude-3.7-sonnet-thought`` too)."""
    match = _CLAUDE.match(model_id.lower())
    if match is None:
        return None
    tier = match.group("tier") or match.group("tier2")
    version = match.group("version") or match.group("version2")
    return tier, match.group("variant"), tuple(int(part) for part in version.split("."))


class Catalogue:
    """The models of the account's Copilot plan, as last fetched (empty until then)."""

    def __init__(self) -> None:
        self.models: dict[str, CatalogueModel] = {}
        self.fetched_at: float | None = None

    def replace(self, payload: Any, *, now: float) -> None:
        """Take a ``GET /models`` body (``{"data": [...]}``)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        models: dict[str, CatalogueModel] = {}
        for raw in data if isinstance(data, list) else []:
            entry = CatalogueModel.parse(raw) if isinstance(raw, dict) else None
            if entry is not None:
                models.setdefault(entry.id, entry)
        self.models = models
        self.fetched_at = now

    def get(self, model_id: str) -> CatalogueModel | None:
        """The entry with exactly this id."""
        return self.models.get(model_id)

    def ids(self) -> list[str]:
        """Every chat model id, sorted."""
        return sorted(self.models)

    def find(self, name: str, *, family: bool = True) -> str | None:
        """The enabled catalogue id for ``name`` (steps 2-4 of the module docstring; 2-3 without
        ``family``), or ``None``."""
        # A disabled model (policy.state "disabled") is refused by the backend: never a match.
        enabled = {model_id for model_id, entry in self.models.items() if entry.enabled}
        lowered = {model_id.lower(): model_id for model_id in enabled}
        spellings = sdk_spellings(name)
        for spelled in spellings:
            found = spelled if spelled in enabled else lowered.get(spelled.lower())
            if found is not None:
                return found
        parsed = _claude_family(spellings[-1]) if family else None
        if parsed is None:
            return None
        tier, variant, _version = parsed
        newest: tuple[tuple[int, ...], str] | None = None
        for model_id, entry in self.models.items():
            other = _claude_family(model_id)
            if other is None or other[:2] != (tier, variant) or not entry.enabled:
                continue
            if newest is None or other[2] > newest[0]:
                newest = (other[2], model_id)
        return newest[1] if newest is not None else None


class CopilotModelAliases(ModelAliases):
    """``ModelAliases`` resolved against the catalogue (see the module docstring)."""

    def __init__(
        self,
        table: Mapping[str, str],
        catalogue: Catalogue,
        *,
        default_model: str | None = None,
        provider: str = "copilot",
    ) -> None:
        super().__init__(
            table, provider=provider, is_native=lambda _name: False, default_model=default_model
        )
        self.catalogue = catalogue

    def resolve(self, model: str) -> AliasResolution:
        """The Copilot id for ``model``; ``UnknownModelError`` names the available models."""
        try:
            aliased = super().resolve(model)
        except UnknownModelError:
            aliased = None
        if aliased is not None and aliased.rule != "default_model":
            target = aliased.upstream_model
            found = self.catalogue.find(target) if self.catalogue.models else None
            return AliasResolution(model, found or target, aliased.rule)
        if not self.catalogue.models:  # not fetched yet (or unreachable): the best guess
            return AliasResolution(model, sdk_spellings(model)[-1], None)
        found = self.catalogue.find(model)
        if found is not None:
            return AliasResolution(model, found, None)
        if self.default_model:
            return AliasResolution(model, self.default_model, "default_model")
        raise UnknownModelError(
            f"Model {model!r} is not available on this Copilot account. Available models: "
            f"{', '.join(self.catalogue.ids())}. Map it under plugins.copilot.model_aliases or "
            "set plugins.copilot.default_model."
        )

    def known(self, model: str) -> bool:
        """Whether ``model`` (or its alias target) is in the catalogue under one of its
        spellings; the newest-of-family fallback counts as a miss (the model may have shipped
        since the catalogue was fetched)."""
        try:
            aliased = super().resolve(model)
        except UnknownModelError:
            aliased = None
        target = (
            model if aliased is None or aliased.rule == "default_model" else aliased.upstream_model
        )
        return self.catalogue.find(target, family=False) is not None

    def listed_models(self) -> list[str]:
        """What ``GET /copilot/v1/models`` lists: the catalogue plus the alias names."""
        names = set(self.catalogue.ids())
        names.update(k for k in self.table if not k.endswith("*"))
        return sorted(names)
