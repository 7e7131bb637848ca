"""One package per wire format: Anthropic Messages, OpenAI Chat Completions, OpenAI Responses."""
