"""The Codex provider's edits on top of the core pipeline.

- ``chatgpt-account-id`` goes with the bearer token (the backend refuses a request without it);
  it is the TokenSource's ``account().id`` (the id token's ``chatgpt_account_id``).
- Converted requests (Anthropic Messages and Chat Completions clients) get the optional
  ``instructions_file`` text prefixed to their ``instructions`` (the system text). Native Responses
  traffic (the Codex CLI, the ``openai`` SDK's Responses API) is left as the client sent it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ccproxy.plugins.provider import ProviderAdapter

if TYPE_CHECKING:
    from ccproxy.plugins import TokenSource

__all__ = ["ACCOUNT_HEADER", "CodexAdapter"]

ACCOUNT_HEADER = "chatgpt-account-id"


class CodexAdapter(ProviderAdapter):
    """``ProviderAdapter`` for the ChatGPT Codex backend."""

    #: The ``instructions_file`` text; set by the runtime.
    instructions_prefix: str | None = None

    def auth_headers(self, token: str, source: TokenSource) -> dict[str, str]:
        """The bearer token plus ``chatgpt-account-id`` when the account is known."""
        headers = {"authorization": f"Bearer {token}"}
        try:
            account = source.account().id
        except Exception:  # an unreadable file must not hide the token's own error
            account = None
        if account:
            headers[ACCOUNT_HEADER] = account
        return headers

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        """Prefix ``instructions_file`` to the instructions of converted requests."""
        if not converted or not self.instructions_prefix:
            return body
        current = body.get("instructions")
        text = self.instructions_prefix
        if isinstance(current, str) and current.strip():
            text = f"{text.rstrip()}\n\n{current}"
        return {**body, "instructions": text}
