"""Reasoning across formats: the opaque-proof envelope and the published effort table.

**Envelope.** Reasoning that must survive a round trip through another format (Codex reasoning
shown to an Anthropic client, Claude thinking shown to a Responses client) travels as
``ccproxy.v1.`` + base64url(JSON). The Anthropic encoder puts it in a thinking block's
``signature``; the Responses encoder in a reasoning item's ``encrypted_content``. When the client
sends the block back, the decoder opens the envelope and restores the original ``Reasoning``.
Decoders open only envelopes with this prefix; anything else is the format's own proof.

**Which reasoning an upstream receives.** Each upstream verifies only its own proofs, so an encoder
keeps a ``Reasoning`` part only when its ``origin`` is the upstream's own family (Anthropic:
``signature`` or ``redacted_data``; OpenAI: ``encrypted_content``) and drops the rest — readable
text of foreign reasoning is not replayed either. Chat Completions has no field that carries a
proof, so reasoning cannot round-trip through Chat clients.

**Effort table** (Anthropic ``thinking.budget_tokens`` / ``output_config.effort`` ↔ OpenAI
``reasoning.effort``), see ``EFFORT_BUDGETS`` and ``effort_for_budget``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ccproxy.llm.ir import Reasoning, ReasoningEffort

__all__ = [
    "EFFORT_BUDGETS",
    "ENVELOPE_PREFIX",
    "budget_for_effort",
    "effort_for_budget",
    "open_envelope",
    "seal_envelope",
]

ENVELOPE_PREFIX = "ccproxy.v1."

#: Thinking budget sent to Anthropic for an OpenAI effort level.
EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 4096,
    "medium": 12000,
    "high": 24000,
    "xhigh": 48000,
    "max": 64000,
}


def budget_for_effort(effort: str) -> int | None:
    """The Anthropic ``budget_tokens`` for an OpenAI effort; ``None`` for ``none``/unknown."""
    return EFFORT_BUDGETS.get(effort)


def effort_for_budget(budget_tokens: int) -> ReasoningEffort:
    """The OpenAI effort for an Anthropic budget: the smallest level whose budget covers it."""
    if budget_tokens <= EFFORT_BUDGETS["minimal"]:
        return "minimal"
    if budget_tokens <= EFFORT_BUDGETS["low"]:
        return "low"
    if budget_tokens <= EFFORT_BUDGETS["medium"]:
        return "medium"
    return "high"


def seal_envelope(reasoning: Reasoning) -> str:
    """Wrap ``reasoning``'s origin, id and proof so another format can carry it."""
    payload: dict[str, Any] = {"o": reasoning.origin}
    if reasoning.id is not None:
        payload["id"] = reasoning.id
    if reasoning.signature is not None:
        payload["sig"] = reasoning.signature
    if reasoning.redacted_data is not None:
        payload["red"] = reasoning.redacted_data
    if reasoning.encrypted_content is not None:
        payload["enc"] = reasoning.encrypted_content
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return ENVELOPE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def open_envelope(value: str | None, *, text: str = "") -> Reasoning | None:
    """The ``Reasoning`` sealed in ``value``, or ``None`` when it is not one of our envelopes."""
    if not value or not value.startswith(ENVELOPE_PREFIX):
        return None
    body = value[len(ENVELOPE_PREFIX) :]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or payload.get("o") not in ("anthropic", "openai"):
        return None
    return Reasoning(
        text=text,
        origin=payload["o"],
        id=payload.get("id"),
        signature=payload.get("sig"),
        redacted_data=payload.get("red"),
        encrypted_content=payload.get("enc"),
    )
