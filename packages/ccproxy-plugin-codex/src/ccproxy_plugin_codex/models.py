"""Which Codex model serves the name a client asked for.

In order: the user's ``plugins.codex.model_aliases`` (exact names beat ``prefix*`` patterns, the
longest prefix wins); then Claude names — any ``claude*`` name goes to ``claude_model``, and one
containing ``haiku`` (Claude Code's background calls) to ``claude_small_model`` — so Claude Code
works on ``/codex`` out of the box; then GPT-family names (``gpt-*``, ``o<digit>*``, ``codex-*``)
pass through unchanged; anything else goes to ``default_model``, or is a 400 naming that key.
The client's name is restored in every response (the core pipeline does that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ccproxy.plugins.provider import AliasResolution, ModelAliases, UnknownModelError
from ccproxy_plugin_codex.credentials import PROVIDER

__all__ = ["CodexModelAliases", "is_native_model"]

_NATIVE = re.compile(r"^(gpt-|codex-|o[0-9])", re.IGNORECASE)


def is_native_model(model: str) -> bool:
    """Whether ``model`` is a name of the OpenAI family that the backend takes as it is."""
    return bool(_NATIVE.match(model))


class CodexModelAliases(ModelAliases):
    """``ModelAliases`` with the Claude defaults of the Codex provider (see the module docstring)."""

    def __init__(
        self,
        table: Mapping[str, str],
        *,
        claude_model: str,
        claude_small_model: str,
        default_model: str | None = None,
    ) -> None:
        super().__init__(
            table, provider=PROVIDER, is_native=is_native_model, default_model=default_model
        )
        # The user's rules alone (nothing native, no default): consulted first.
        self._user_rules = ModelAliases(table, provider=PROVIDER, is_native=lambda _name: False)
        self.claude_model = claude_model
        self.claude_small_model = claude_small_model

    def resolve(self, model: str) -> AliasResolution:
        """The upstream model for ``model``; raises ``UnknownModelError`` for an unknown family."""
        try:
            return self._user_rules.resolve(model)
        except UnknownModelError:
            pass
        lowered = model.lower()
        if lowered.startswith("claude"):
            if "haiku" in lowered:
                return AliasResolution(model, self.claude_small_model, "claude_small_model")
            return AliasResolution(model, self.claude_model, "claude_model")
        return super().resolve(model)

    def listed_models(self) -> list[str]:
        """What ``GET /codex/v1/models`` lists: aliases, their targets and the Claude targets."""
        names = set(super().listed_models())
        names.update({self.claude_model, self.claude_small_model})
        return sorted(names)
