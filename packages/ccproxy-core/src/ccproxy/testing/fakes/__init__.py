"""Strict, scriptable fake upstreams: the Anthropic Messages API, the ChatGPT Codex backend,
both OAuth token endpoints and GitHub Copilot (device flow, token mint and Copilot API). Each
fake is an ASGI app: use it in-process (``httpx.ASGITransport(app=fake)``) or on loopback
(``async with LiveServer(fake)``).
"""

from __future__ import annotations

from ccproxy.testing.fakes._base import FakeConnectionCut
from ccproxy.testing.fakes._tokens import decode_jwt_claims, make_jwt, pkce_challenge, pkce_pair
from ccproxy.testing.fakes.anthropic import CLAUDE_CODE_IDENTITY, OAUTH_BETA, FakeAnthropic
from ccproxy.testing.fakes.codex import FakeCodex
from ccproxy.testing.fakes.copilot import COPILOT_CLIENT_ID, DEFAULT_COPILOT_MODELS, FakeCopilot
from ccproxy.testing.fakes.oauth import (
    CLAUDE_CLIENT_ID,
    CODEX_CLIENT_ID,
    FakeClaudeOAuth,
    FakeCodexOAuth,
    IssuedToken,
)
from ccproxy.testing.fakes.scripting import RecordedRequest, Reply, ToolCallSpec
from ccproxy.testing.fakes.windows import AccountWindows, WindowVerdict

__all__ = [
    "CLAUDE_CLIENT_ID",
    "CLAUDE_CODE_IDENTITY",
    "CODEX_CLIENT_ID",
    "COPILOT_CLIENT_ID",
    "DEFAULT_COPILOT_MODELS",
    "OAUTH_BETA",
    "AccountWindows",
    "FakeAnthropic",
    "FakeClaudeOAuth",
    "FakeCodex",
    "FakeCodexOAuth",
    "FakeConnectionCut",
    "FakeCopilot",
    "IssuedToken",
    "RecordedRequest",
    "Reply",
    "ToolCallSpec",
    "WindowVerdict",
    "decode_jwt_claims",
    "make_jwt",
    "pkce_challenge",
    "pkce_pair",
]
