"""``ccproxy.auth``'s public names change only on purpose (the provider plugins import them)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import ccproxy.auth
from ccproxy.auth import CredentialFile, TokenManager, TokenReply
from demo_format import DemoFormat


def test_auth_exports() -> None:
    assert sorted(ccproxy.auth.__all__) == sorted(
        [
            "PENDING",
            "SLOW_DOWN",
            "AuthError",
            "AuthorizationCode",
            "AuthorizeRequest",
            "BodyEncoding",
            "CallbackSpec",
            "CredentialError",
            "CredentialFile",
            "CredentialFormat",
            "Credentials",
            "DeviceAuthorization",
            "DeviceFlowTimeout",
            "ExchangedToken",
            "ExchangedTokenSource",
            "LoginError",
            "LoginMethod",
            "LoginOption",
            "LoginUI",
            "OAuthPluginFactory",
            "OAuthPluginRuntime",
            "OAuthProvider",
            "OAuthTokenClient",
            "PKCEPair",
            "Pending",
            "RefreshClient",
            "RefreshError",
            "TokenEndpointError",
            "TokenExchange",
            "TokenManager",
            "TokenReply",
            "UsageHook",
            "build_authorize_url",
            "decode_jwt_claims",
            "jwt_expiry",
            "login",
        ]
    )
    for name in ccproxy.auth.__all__:
        assert getattr(ccproxy.auth, name) is not None


class NoRefresh:
    async def refresh(self, refresh_token: str) -> TokenReply:
        raise AssertionError("not expected")


def test_one_manager_serves_several_event_loops(tmp_path: Path) -> None:
    """The CLI runs ``asyncio.run`` more than once; locks must not stay bound to a dead loop."""
    path = tmp_path / "creds.json"
    manager = TokenManager(CredentialFile(path), DemoFormat(), NoRefresh(), provider="claude")
    reply = TokenReply(access_token="a", refresh_token="r", expires_in=3600)

    async def login_and_contend() -> str:
        await manager.store_login(reply)
        # Contention makes asyncio.Lock bind to the running loop.
        results = await asyncio.gather(*(manager.refresh(rejected="old") for _ in range(3)))
        return results[0]

    assert asyncio.run(login_and_contend()) == "a"
    assert asyncio.run(login_and_contend()) == "a"
    assert json.loads(path.read_text())["claudeAiOauth"]["accessToken"] == "a"
