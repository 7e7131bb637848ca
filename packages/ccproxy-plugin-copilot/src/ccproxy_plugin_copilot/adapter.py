"""The Copilot provider's edits on top of the core pipeline, one adapter per upstream format.

Every Copilot API call carries the editor headers (``profile.toml`` plus the ``plugins.copilot``
version settings), a fresh ``x-request-id``, and what :mod:`ccproxy_plugin_copilot.headers`
derives from the body (``x-initiator``, ``openai-intent``, ``copilot-vision-request``). The API
base is the credential's ``AccountInfo.api_base`` (the mint's ``endpoints.api``) unless
``plugins.copilot.base_url`` is set. Per format:

- Messages (``/v1/messages``): ``system`` is sent as an array of text blocks (the backend refuses a
  string); the client's query string (Claude Code's ``?beta=true``) is not forwarded;
- Responses (``/responses``): ``previous_response_id`` never goes upstream (the core expands it
  from its response store into the whole history), ``store: false`` and
  ``include: ["reasoning.encrypted_content"]`` so that replayed reasoning stays valid;
- Chat (``/chat/completions``): streams ask for ``stream_options.include_usage`` so that every
  request's usage reaches the ledger (a passthrough client that did not ask gets the standard
  usage-only last chunk).

A request asking for more output tokens than the catalogue allows the model
(``capabilities.limits.max_output_tokens``; Claude Code asks for 64000) is lowered to that limit,
which the backend would otherwise refuse. On the Messages format an extended-thinking budget
(``thinking.budget_tokens``, which must stay below ``max_tokens``) is lowered with it, and
thinking is dropped when the budget would fall below the 1024 minimum.

Each request's record carries ``tags["initiator"]`` (``user``: a premium request) and, when the
catalogue states it, ``tags["premium_multiplier"]``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ccproxy.plugins.provider import ProviderAdapter
from ccproxy_plugin_copilot.headers import INITIATOR_HEADER, request_headers

if TYPE_CHECKING:
    from collections.abc import Callable

    from ccproxy.plugins import AccountSet, PluginContext, TokenSource
    from ccproxy.plugins.provider import ProviderEndpoint, ResponseStore, UpstreamRequest
    from ccproxy_plugin_copilot.models import Catalogue

__all__ = [
    "ENCRYPTED_REASONING",
    "MIN_THINKING_BUDGET",
    "CopilotAdapter",
    "explain_error",
    "fit_thinking_budget",
]

ENCRYPTED_REASONING = "reasoning.encrypted_content"
#: The smallest ``thinking.budget_tokens`` the Messages API accepts.
MIN_THINKING_BUDGET = 1024
#: Where each upstream format asks for a most-output-tokens figure.
_MAX_OUTPUT_KEYS = {
    "anthropic": ("max_tokens",),
    "responses": ("max_output_tokens",),
    "chat": ("max_tokens", "max_completion_tokens"),
}
SPAMMY_MESSAGE = (
    "GitHub has blocked this account's Copilot access: its abuse detection flagged the account "
    "(spammy_user). ccproxy cannot lift the block; contact GitHub Support. Scripted use and "
    "several accounts used from one place raise this risk."
)


def explain_error(status_code: int, raw: bytes, available: list[str]) -> str | None:
    """A plain message for the Copilot errors that need one (``None`` keeps the upstream's)."""
    if status_code == 403 and b"spammy_user" in raw:
        return SPAMMY_MESSAGE
    if status_code == 400 and b"model_not_supported" in raw:
        listed = ", ".join(available) if available else "(the catalogue could not be read)"
        return (
            "Copilot does not serve the requested model on this account (model_not_supported). "
            f"Available models: {listed}. Map a name under plugins.copilot.model_aliases."
        )
    return None


class CopilotAdapter(ProviderAdapter):
    """``ProviderAdapter`` for one Copilot endpoint (``/chat/completions``, ``/responses`` or
    ``/v1/messages``); the router picks one per request."""

    def __init__(
        self,
        endpoint: ProviderEndpoint,
        context: PluginContext,
        *,
        token_source: Callable[[], TokenSource | AccountSet | None],
        catalogue: Catalogue,
        response_store: ResponseStore | None = None,
        fixed_base_url: bool = False,
        on_unknown_model: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            endpoint, context, token_source=token_source, response_store=response_store
        )
        self.catalogue = catalogue
        self.fixed_base_url = fixed_base_url
        self._on_unknown_model = on_unknown_model
        # id(source) -> (source, token, its API base): account() reads the credential file's
        # stamp, so it is asked once per minted token rather than once per upstream call.
        self._api_bases: dict[int, tuple[TokenSource, str, str | None]] = {}

    def auth_headers(self, token: str, source: TokenSource) -> dict[str, str]:
        """The bearer token and a fresh ``x-request-id`` for every call (a retry included)."""
        if not self.fixed_base_url:
            self._note_api_base(token, source)
        return {"authorization": f"Bearer {token}", "x-request-id": str(uuid.uuid4())}

    def upstream_base_url(self, source: TokenSource) -> str | None:
        """The credential's API base (``endpoints.api``) unless ``base_url`` is configured: the
        one its current token was minted for (noted when the token is put in the headers)."""
        if self.fixed_base_url:
            return None
        known = self._api_bases.get(id(source))
        if known is not None and known[0] is source:
            return known[2]
        return _api_base(source)

    def _note_api_base(self, token: str, source: TokenSource) -> None:
        known = self._api_bases.get(id(source))
        if known is not None and known[0] is source and known[1] == token:
            return
        if len(self._api_bases) >= 64:  # replaced sources (re-read credential files)
            self._api_bases.clear()
        self._api_bases[id(source)] = (source, token, _api_base(source))

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        """The per-format rules of the module docstring."""
        upstream_format = self.endpoint.upstream_format
        if upstream_format == "anthropic":
            system = body.get("system")
            if isinstance(system, str):
                body["system"] = [{"type": "text", "text": system}] if system else []
            elif isinstance(system, list):
                body["system"] = [
                    {"type": "text", "text": block} if isinstance(block, str) else block
                    for block in system
                ]
        elif upstream_format == "responses":
            body.pop("previous_response_id", None)
            body["store"] = False
            include = body.get("include")
            include = list(include) if isinstance(include, list) else []
            if ENCRYPTED_REASONING not in include:
                include.append(ENCRYPTED_REASONING)
            body["include"] = include
        elif body.get("stream"):
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        return body

    def edit_upstream_request(self, request: UpstreamRequest, *, converted: bool) -> None:
        """Initiator, intent and vision headers; the record's tags; no client query string."""
        headers = request_headers(request.body, self.endpoint.upstream_format)
        request.headers.update(headers)
        request.url = request.url.split("?", 1)[0]
        request.tags["initiator"] = headers[INITIATOR_HEADER]
        model = request.body.get("model")
        entry = self.catalogue.get(model) if isinstance(model, str) else None
        if entry is None:
            return
        if entry.multiplier is not None:
            request.tags["premium_multiplier"] = f"{entry.multiplier:g}"
        limit = entry.max_output_tokens
        if limit is None:
            return
        for key in _MAX_OUTPUT_KEYS[self.endpoint.upstream_format]:
            asked = request.body.get(key)
            if isinstance(asked, int) and asked > limit:
                request.body[key] = limit
                if self.endpoint.upstream_format == "anthropic":
                    fit_thinking_budget(request.body, limit)

    def explain_upstream_error(self, status_code: int, message: str, raw: bytes) -> str | None:
        """``spammy_user`` and ``model_not_supported`` in plain words (see :func:`explain_error`)."""
        explained = explain_error(status_code, raw, self.catalogue.ids())
        if status_code == 400 and explained is not None and self._on_unknown_model is not None:
            self._on_unknown_model()  # the catalogue is stale: refetch it on the next request
        return explained


def _api_base(source: TokenSource) -> str | None:
    try:
        return source.account().api_base
    except Exception:  # an unreadable credential fails on its token, not here
        return None


def fit_thinking_budget(body: dict[str, Any], max_tokens: int) -> None:
    """Keep extended thinking valid under a lowered ``max_tokens``: Messages requires
    ``thinking.budget_tokens < max_tokens`` and at least :data:`MIN_THINKING_BUDGET`. The budget
    is lowered to ``max_tokens - 1``, and thinking is dropped when that is below the minimum;
    ``{"type": "adaptive"}`` (no budget) is left as it is."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < max_tokens:
        return
    if max_tokens - 1 < MIN_THINKING_BUDGET:
        del body["thinking"]
    else:
        body["thinking"] = {**thinking, "budget_tokens": max_tokens - 1}
