"""FakeClaudeOAuth and FakeCodexOAuth: PKCE, rotation, device flow, ties to the model fakes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, FakeCodex, FakeCodexOAuth, LiveServer
from ccproxy.testing.fakes import (
    CLAUDE_CLIENT_ID,
    CLAUDE_CODE_IDENTITY,
    CODEX_CLIENT_ID,
    OAUTH_BETA,
    decode_jwt_claims,
    pkce_pair,
)

REDIRECT = "https://platform.claude.com/oauth/code/callback"
CODEX_REDIRECT = "http://localhost:1455/auth/callback"


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(app: Any) -> httpx.AsyncClient:
        made = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")
        clients.append(made)
        return made

    yield make
    for made in clients:
        await made.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# --- Claude --------------------------------------------------------------------------------


def claude_exchange(
    code: str, verifier: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLAUDE_CLIENT_ID,
        "code_verifier": verifier,
        "state": "st-1",
        **(overrides or {}),
    }


async def test_claude_code_exchange_verifies_pkce(client: Any) -> None:
    oauth = FakeClaudeOAuth()
    verifier, challenge = pkce_pair()
    code = oauth.issue_code(code_challenge=challenge, state="st-1", redirect_uri=REDIRECT)
    http = client(oauth)

    wrong = await http.post("/v1/oauth/token", json=claude_exchange(code, pkce_pair()[0]))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    response = await http.post("/v1/oauth/token", json=claude_exchange(code, verifier))
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 28800
    assert "user:inference" in tokens["scope"].split()
    assert oauth.is_valid_access_token(tokens["access_token"])
    assert oauth.token_status(tokens["refresh_token"]) == "valid"
    assert oauth.exchange_count == 1

    reused = await http.post("/v1/oauth/token", json=claude_exchange(code, verifier))
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"state": "other"}, 400, "invalid_grant"),
        ({"state": None}, 400, "invalid_grant"),
        ({"redirect_uri": "http://localhost:1/callback"}, 400, "invalid_grant"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"code_verifier": "short"}, 400, "invalid_request"),
        ({"code": "code-never-issued"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
async def test_claude_exchange_refusals(
    client: Any, overrides: dict[str, Any], status: int, error: str
) -> None:
    oauth = FakeClaudeOAuth()
    verifier, challenge = pkce_pair()
    code = oauth.issue_code(code_challenge=challenge, state="st-1", redirect_uri=REDIRECT)
    payload = {k: v for k, v in claude_exchange(code, verifier, overrides).items() if v is not None}
    response = await client(oauth).post("/v1/oauth/token", json=payload)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert oauth.exchange_count == 0


async def test_claude_token_endpoint_wants_json(client: Any) -> None:
    oauth = FakeClaudeOAuth()
    verifier, challenge = pkce_pair()
    code = oauth.issue_code(code_challenge=challenge)
    response = await client(oauth).post("/v1/oauth/token", data=claude_exchange(code, verifier))
    assert response.status_code == 400
    assert "JSON" in response.json()["error_description"]


async def test_claude_refresh_rotates(client: Any) -> None:
    oauth = FakeClaudeOAuth()
    creds = oauth.mint_credentials()
    http = client(oauth)

    def refresh(token: str) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": CLAUDE_CLIENT_ID,
        }

    first = await http.post("/v1/oauth/token", json=refresh(creds["refresh_token"]))
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != creds["refresh_token"]
    assert rotated["access_token"] != creds["access_token"]

    reused = await http.post("/v1/oauth/token", json=refresh(creds["refresh_token"]))
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert oauth.token_status(creds["refresh_token"]) == "used"

    second = await http.post("/v1/oauth/token", json=refresh(rotated["refresh_token"]))
    assert second.status_code == 200
    assert oauth.refresh_count == 3
    assert [r.status for r in oauth.requests] == [200, 400, 200]
    assert oauth.requests[0].json["refresh_token"] == creds["refresh_token"]


async def test_expired_access_then_refresh_at_the_model_fake(client: Any) -> None:
    oauth = FakeClaudeOAuth()
    model = FakeAnthropic(oauth=oauth)
    creds = oauth.mint_credentials()
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": OAUTH_BETA}
    request = {
        "model": "claude-opus-4-8",
        "max_tokens": 5,
        "system": CLAUDE_CODE_IDENTITY,
        "messages": [{"role": "user", "content": "hi"}],
    }

    async def call(token: str) -> int:
        response: httpx.Response = await client(model).post(
            "/v1/messages", headers={**headers, "authorization": f"Bearer {token}"}, json=request
        )
        return response.status_code

    oauth.expire_now(creds["access_token"])
    assert await call(creds["access_token"]) == 401
    refreshed = await client(oauth).post(
        "/v1/oauth/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": CLAUDE_CLIENT_ID,
        },
    )
    assert await call(refreshed.json()["access_token"]) == 200
    assert oauth.refresh_count == 1


async def test_claude_expiry_follows_the_clock() -> None:
    clock = Clock()
    oauth = FakeClaudeOAuth(clock=clock)
    creds = oauth.mint_credentials(expires_in=60)
    assert creds["expires_at_ms"] == int((clock.now + 60) * 1000)
    clock.now += 59
    assert oauth.token_status(creds["access_token"]) == "valid"
    clock.now += 1
    assert oauth.token_status(creds["access_token"]) == "expired"
    assert creds["access_token"] not in oauth.valid_access_tokens
    assert oauth.token_status("never-issued") == "unknown"


def test_claude_credentials_file_shape() -> None:
    oauth = FakeClaudeOAuth()
    creds = oauth.mint_credentials()
    stored = FakeClaudeOAuth.credentials_file(creds)["claudeAiOauth"]
    assert stored["accessToken"] == creds["access_token"]
    assert stored["refreshToken"] == creds["refresh_token"]
    assert stored["expiresAt"] == creds["expires_at_ms"]
    assert stored["subscriptionType"] == "max"
    assert abs(creds["expires_at_ms"] / 1000 - time.time() - 3600) < 5


async def test_claude_client_ids_are_configurable(client: Any) -> None:
    oauth = FakeClaudeOAuth(client_ids={"my-client"})
    creds = oauth.mint_credentials()
    response = await client(oauth).post(
        "/v1/oauth/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": "my-client",
        },
    )
    assert response.status_code == 200


# --- Codex ---------------------------------------------------------------------------------


async def test_codex_code_exchange_gives_jwts(client: Any) -> None:
    oauth = FakeCodexOAuth(account_id="acct-9", plan_type="plus")
    verifier, challenge = pkce_pair()
    code = oauth.issue_code(code_challenge=challenge, redirect_uri=CODEX_REDIRECT)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CODEX_REDIRECT,
        "client_id": CODEX_CLIENT_ID,
        "code_verifier": verifier,
    }
    http = client(oauth)
    as_json = await http.post("/oauth/token", json=form)
    assert as_json.status_code == 400
    response = await http.post("/oauth/token", data=form)
    assert response.status_code == 200
    tokens = response.json()
    for name in ("id_token", "access_token"):
        claims = decode_jwt_claims(tokens[name])
        assert claims is not None
        assert claims["https://api.openai.com/auth"]["chatgpt_account_id"] == "acct-9"
        assert claims["https://api.openai.com/auth"]["chatgpt_plan_type"] == "plus"
        assert claims["exp"] > time.time()
    assert oauth.account_for(tokens["access_token"]) == "acct-9"
    assert oauth.requests[-1].form is not None and oauth.requests[-1].form["code"] == code


async def test_codex_refresh_rotates_and_reuse_is_refused(client: Any) -> None:
    oauth = FakeCodexOAuth()
    creds = oauth.mint_credentials()
    http = client(oauth)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": creds["refresh_token"],
        "client_id": CODEX_CLIENT_ID,
        "scope": "openid profile email",
    }
    first = await http.post("/oauth/token", data=form)
    assert first.status_code == 200
    assert {"id_token", "access_token", "refresh_token"} <= first.json().keys()
    assert first.json()["refresh_token"] != creds["refresh_token"]
    reused = await http.post("/oauth/token", data=form)
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    oauth.revoke(first.json()["refresh_token"])
    revoked = await http.post(
        "/oauth/token", data={**form, "refresh_token": first.json()["refresh_token"]}
    )
    assert revoked.json()["error"]["code"] == "refresh_token_invalidated"
    assert oauth.refresh_count == 3


async def test_codex_device_flow(client: Any) -> None:
    oauth = FakeCodexOAuth(device_interval=1)
    http = client(oauth)
    started = await http.post(
        "/api/accounts/deviceauth/usercode", json={"client_id": CODEX_CLIENT_ID}
    )
    assert started.status_code == 200
    device = started.json()
    assert device["interval"] == 1
    assert oauth.pending_user_codes == [device["user_code"]]
    poll = {"device_auth_id": device["device_auth_id"], "user_code": device["user_code"]}

    pending = await http.post("/api/accounts/deviceauth/token", json=poll)
    assert pending.status_code == 403

    oauth.approve_device(device["user_code"])
    approved = await http.post("/api/accounts/deviceauth/token", json=poll)
    assert approved.status_code == 200
    grant = approved.json()
    assert {"authorization_code", "code_verifier"} <= grant.keys()
    again = await http.post("/api/accounts/deviceauth/token", json=poll)
    assert again.status_code == 400

    exchange = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": grant["authorization_code"],
            "redirect_uri": "https://auth.openai.com/deviceauth/callback",
            "client_id": CODEX_CLIENT_ID,
            "code_verifier": grant["code_verifier"],
        },
    )
    assert exchange.status_code == 200
    assert oauth.is_valid_access_token(exchange.json()["access_token"])
    assert oauth.device_poll_count == 3


async def test_codex_device_flow_refusals(client: Any) -> None:
    oauth = FakeCodexOAuth()
    http = client(oauth)
    bad_client = await http.post("/api/accounts/deviceauth/usercode", json={"client_id": "x"})
    assert bad_client.status_code == 401
    unknown = await http.post(
        "/api/accounts/deviceauth/token", json={"device_auth_id": "nope", "user_code": "AAAA-BBBB"}
    )
    assert unknown.status_code == 400
    with pytest.raises(KeyError):
        oauth.approve_device("AAAA-BBBB")


async def test_codex_revoke_endpoint(client: Any) -> None:
    oauth = FakeCodexOAuth()
    creds = oauth.mint_credentials()
    response = await client(oauth).post("/oauth/revoke", data={"token": creds["access_token"]})
    assert response.status_code == 200
    assert oauth.token_status(creds["access_token"]) == "revoked"


def test_codex_mint_credentials_and_auth_json() -> None:
    oauth = FakeCodexOAuth(account_id="acct-1")
    creds = oauth.mint_credentials(expires_in=120)
    claims = decode_jwt_claims(creds["access_token"])
    assert claims is not None
    assert claims["exp"] * 1000 == creds["expires_at_ms"]
    assert creds["account_id"] == "acct-1"
    file = FakeCodexOAuth.auth_json(creds)
    assert file["OPENAI_API_KEY"] is None
    assert file["tokens"]["id_token"] == creds["id_token"]
    assert file["tokens"]["account_id"] == "acct-1"
    assert file["last_refresh"].endswith("Z")


async def test_oauth_fakes_on_loopback_servers() -> None:
    claude, codex = FakeClaudeOAuth(), FakeCodexOAuth()
    claude_creds, codex_creds = claude.mint_credentials(), codex.mint_credentials()
    model = FakeCodex(oauth=codex)
    async with LiveServer(claude) as a, LiveServer(model) as b, httpx.AsyncClient() as http:
        refreshed = await http.post(
            f"{a.url}/v1/oauth/token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": claude_creds["refresh_token"],
                "client_id": CLAUDE_CLIENT_ID,
            },
        )
        assert refreshed.status_code == 200
        response = await http.post(
            f"{b.url}/backend-api/codex/responses",
            headers={
                "authorization": f"Bearer {codex_creds['access_token']}",
                "chatgpt-account-id": codex_creds["account_id"],
            },
            json={"model": "gpt-5", "input": [], "stream": True, "store": False},
        )
        assert response.status_code == 200
        assert "response.completed" in response.text
