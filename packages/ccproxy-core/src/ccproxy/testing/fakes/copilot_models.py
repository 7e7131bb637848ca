"""The model list the GitHub Copilot fake serves at ``GET /models`` (shapes as peers record them)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_COPILOT_MODELS", "copilot_model"]

CHAT_ONLY = ("/chat/completions",)
CLAUDE_ENDPOINTS = ("/chat/completions", "/v1/messages")
RESPONSES_ONLY = ("/responses",)
CHAT_AND_RESPONSES = ("/chat/completions", "/responses")


def copilot_model(
    model_id: str,
    *,
    name: str,
    vendor: str,
    family: str,
    endpoints: tuple[str, ...],
    max_output_tokens: int,
    max_context_window_tokens: int,
    vision: bool = True,
    multiplier: float = 1.0,
    tokenizer: str = "o200k_base",
) -> dict[str, Any]:
    """One ``/models`` entry; ``endpoints`` becomes ``supported_endpoints``."""
    return {
        "id": model_id,
        "name": name,
        "object": "model",
        "vendor": vendor,
        "version": model_id,
        "preview": False,
        "model_picker_enabled": True,
        "capabilities": {
            "family": family,
            "object": "model_capabilities",
            "type": "chat",
            "tokenizer": tokenizer,
            "limits": {
                "max_context_window_tokens": max_context_window_tokens,
                "max_output_tokens": max_output_tokens,
                "max_prompt_tokens": max_context_window_tokens - max_output_tokens,
            },
            "supports": {
                "tool_calls": True,
                "parallel_tool_calls": True,
                "streaming": True,
                "vision": vision,
                "structured_outputs": vendor != "Anthropic",
            },
        },
        "policy": {"state": "enabled", "terms": f"Enable access to {name}."},
        "billing": {"is_premium": multiplier > 0, "multiplier": multiplier},
        "supported_endpoints": list(endpoints),
    }


#: Claude models speak Chat and Messages, ``*-codex`` only Responses, gpt-5 Chat and Responses.
DEFAULT_COPILOT_MODELS: list[dict[str, Any]] = [
    copilot_model(
        "claude-sonnet-4.5",
        name="Claude Sonnet 4.5",
        vendor="Anthropic",
        family="claude-sonnet-4.5",
        endpoints=CLAUDE_ENDPOINTS,
        max_output_tokens=16000,
        max_context_window_tokens=144000,
    ),
    copilot_model(
        "claude-opus-4.1",
        name="Claude Opus 4.1",
        vendor="Anthropic",
        family="claude-opus-4.1",
        endpoints=CLAUDE_ENDPOINTS,
        max_output_tokens=16000,
        max_context_window_tokens=80000,
        multiplier=10.0,
    ),
    copilot_model(
        "claude-haiku-4.5",
        name="Claude Haiku 4.5",
        vendor="Anthropic",
        family="claude-haiku-4.5",
        endpoints=CLAUDE_ENDPOINTS,
        max_output_tokens=16000,
        max_context_window_tokens=144000,
        multiplier=0.33,
    ),
    copilot_model(
        "gpt-5",
        name="GPT-5",
        vendor="Azure OpenAI",
        family="gpt-5",
        endpoints=CHAT_AND_RESPONSES,
        max_output_tokens=64000,
        max_context_window_tokens=264000,
    ),
    copilot_model(
        "gpt-5-mini",
        name="GPT-5 mini",
        vendor="Azure OpenAI",
        family="gpt-5-mini",
        endpoints=CHAT_ONLY,
        max_output_tokens=64000,
        max_context_window_tokens=264000,
        multiplier=0.0,
    ),
    copilot_model(
        "gpt-4.1",
        name="GPT-4.1",
        vendor="Azure OpenAI",
        family="gpt-4.1",
        endpoints=CHAT_ONLY,
        max_output_tokens=16384,
        max_context_window_tokens=128000,
        multiplier=0.0,
    ),
    copilot_model(
        "gpt-5.1-codex",
        name="GPT-5.1-Codex",
        vendor="OpenAI",
        family="gpt-5.1-codex",
        endpoints=RESPONSES_ONLY,
        max_output_tokens=128000,
        max_context_window_tokens=400000,
    ),
    copilot_model(
        "gemini-2.5-pro",
        name="Gemini 2.5 Pro",
        vendor="Google",
        family="gemini-2.5-pro",
        endpoints=CHAT_ONLY,
        max_output_tokens=64000,
        max_context_window_tokens=128000,
    ),
]
