"""The token endpoint client with both body encodings, token replies, and secret-free errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ccproxy.auth import (
    Credentials,
    OAuthTokenClient,
    PKCEPair,
    RefreshClient,
    RefreshError,
    TokenEndpointError,
    TokenReply,
    decode_jwt_claims,
    jwt_expiry,
)
from ccproxy.auth.tokens import credentials_from_reply
from ccproxy.testing import FakeClaudeOAuth, FakeCodexOAuth
from ccproxy.testing.fakes import CLAUDE_CLIENT_ID, CODEX_CLIENT_ID, make_jwt

CLAUDE_TOKEN_URL = "http://fake/v1/oauth/token"
CODEX_TOKEN_URL = "http://fake/oauth/token"
CODEX_REFRESH_SCOPES = ["openid", "profile", "email"]


def json_client(http: httpx.AsyncClient, **kwargs: Any) -> OAuthTokenClient:
    """Configured as Claude's endpoint wants it: JSON bodies, ``state`` in the exchange."""
    return OAuthTokenClient(http, body="json", send_state=True, **kwargs)


def form_client(http: httpx.AsyncClient, **kwargs: Any) -> OAuthTokenClient:
    """Configured as ChatGPT's endpoint wants it: form-encoded bodies."""
    return OAuthTokenClient(http, body="form", **kwargs)


# --- helpers -------------------------------------------------------------------------------


def test_jwt_helpers_are_lenient() -> None:
    token = make_jwt({"exp": 1_700_000_000, "x": 1})
    assert decode_jwt_claims(token) == {"exp": 1_700_000_000, "x": 1}
    assert jwt_expiry(token) == datetime.fromtimestamp(1_700_000_000, UTC)
    for bad in (None, "", "a.b", "a.!!!.c", "a..c", make_jwt({"exp": "soon"})):
        assert jwt_expiry(bad) is None


def test_credentials_from_reply_keeps_old_refresh_token_and_scopes() -> None:
    previous = Credentials(
        access_token="a1", refresh_token="r1", scopes=("s1",), account_id="acct", plan="max"
    )
    new = credentials_from_reply(
        TokenReply(access_token="a2", expires_in=60), now=1000.0, previous=previous
    )
    assert new.refresh_token == "r1"
    assert new.scopes == ("s1",)
    assert (new.account_id, new.plan) == ("acct", "max")
    assert new.expires_at == datetime.fromtimestamp(1060, UTC)
    jwt = make_jwt({"exp": 5000})
    rotated = credentials_from_reply(
        TokenReply(access_token=jwt, refresh_token="r2", scope="a b"), now=0.0, previous=previous
    )
    assert rotated.refresh_token == "r2"
    assert rotated.scopes == ("a", "b")
    assert rotated.expires_at == datetime.fromtimestamp(5000, UTC)


def test_reprs_never_show_tokens() -> None:
    creds = Credentials(access_token="AAA-secret", refresh_token="RRR-secret", id_token="III")
    reply = TokenReply(access_token="AAA-secret", refresh_token="RRR-secret", id_token="III")
    for text in (repr(creds), str(creds), repr(reply), str(reply), f"{creds}", f"{[creds]}"):
        assert "AAA-secret" not in text and "RRR-secret" not in text and "III" not in text
    assert "hidden" in repr(creds)


# --- clients against the fakes -------------------------------------------------------------


async def test_the_token_client_satisfies_the_refresh_protocol() -> None:
    async with httpx.AsyncClient() as http:
        for body in ("json", "form"):
            client = OAuthTokenClient(http, token_url="u", client_id="c", body=body)  # type: ignore[arg-type]
            assert isinstance(client, RefreshClient)


async def test_claude_client_refreshes_with_json_body(http_for: Any) -> None:
    fake = FakeClaudeOAuth()
    minted = fake.mint_credentials()
    client = json_client(http_for(fake), token_url=CLAUDE_TOKEN_URL, client_id=CLAUDE_CLIENT_ID)
    reply = await client.refresh(minted["refresh_token"])
    assert fake.is_valid_access_token(reply.access_token)
    assert reply.refresh_token and reply.refresh_token != minted["refresh_token"]
    assert reply.expires_in == fake.access_token_ttl
    assert reply.extra["account"]["uuid"] == "acct-claude-fake"
    sent = fake.last_request.json
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": minted["refresh_token"],
        "client_id": CLAUDE_CLIENT_ID,
    }


async def test_codex_client_refreshes_with_form_body_and_scope(http_for: Any) -> None:
    fake = FakeCodexOAuth()
    minted = fake.mint_credentials()
    client = form_client(
        http_for(fake),
        token_url=CODEX_TOKEN_URL,
        client_id=CODEX_CLIENT_ID,
        scopes=CODEX_REFRESH_SCOPES,
    )
    reply = await client.refresh(minted["refresh_token"])
    assert fake.is_valid_access_token(reply.access_token)
    assert reply.id_token is not None
    assert dict(fake.last_request.form or {}) == {
        "grant_type": "refresh_token",
        "refresh_token": minted["refresh_token"],
        "client_id": CODEX_CLIENT_ID,
        "scope": "openid profile email",
    }


@pytest.mark.parametrize("fake_class", [FakeClaudeOAuth, FakeCodexOAuth])
async def test_reused_refresh_token_is_a_refresh_error_without_the_token(
    http_for: Any, fake_class: Any
) -> None:
    fake = fake_class()
    minted = fake.mint_credentials()
    client_class = json_client if fake_class is FakeClaudeOAuth else form_client
    client = client_class(
        http_for(fake),
        token_url=f"http://fake{fake.token_path}",
        client_id=next(iter(fake.client_ids)),
    )
    await client.refresh(minted["refresh_token"])
    with pytest.raises(RefreshError) as info:
        await client.refresh(minted["refresh_token"])
    error = info.value
    assert error.status in (400, 401)
    assert error.error_code in ("invalid_grant", "refresh_token_reused")
    assert error.needs_login
    assert minted["refresh_token"] not in str(error)
    assert minted["refresh_token"] not in repr(error)


async def test_error_body_that_is_not_a_code_is_not_repeated(http_for: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, json={"error": "upstream says sk-ant-ort01-LEAKED token"})

    client = json_client(
        http_for(httpx.MockTransport(handler)), token_url=CLAUDE_TOKEN_URL, client_id="c"
    )
    with pytest.raises(RefreshError) as info:
        await client.refresh("sk-ant-ort01-mine")
    assert info.value.status == 502 and info.value.error_code is None
    assert not info.value.needs_login
    assert "LEAKED" not in str(info.value) and "mine" not in str(info.value)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "invalid_response"),
        (httpx.Response(200, json={"token_type": "Bearer"}), "invalid_response"),
        (httpx.Response(200, json=["x"]), "invalid_response"),
    ],
)
async def test_malformed_success_replies_are_refresh_errors(
    http_for: Any, response: httpx.Response, code: str
) -> None:
    client = form_client(
        http_for(httpx.MockTransport(lambda request: response)),
        token_url=CODEX_TOKEN_URL,
        client_id="c",
    )
    with pytest.raises(RefreshError) as info:
        await client.refresh("rt")
    assert info.value.error_code == code


async def test_unreachable_endpoint_is_a_refresh_error(http_for: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused to http://fake?refresh_token=rt-SECRET")

    client = form_client(
        http_for(httpx.MockTransport(handler)), token_url=CODEX_TOKEN_URL, client_id="c"
    )
    with pytest.raises(RefreshError) as info:
        await client.refresh("rt-SECRET")
    assert info.value.status is None and info.value.error_code == "network_error"
    assert "SECRET" not in str(info.value) and "ConnectError" in str(info.value)
    assert info.value.__cause__ is None


async def test_code_exchange_with_pkce_against_strict_fakes(http_for: Any) -> None:
    redirect = "https://platform.claude.com/oauth/code/callback"
    claude = FakeClaudeOAuth()
    pair = PKCEPair.generate()
    code = claude.issue_code(code_challenge=pair.challenge, state="st", redirect_uri=redirect)
    client = json_client(http_for(claude), token_url=CLAUDE_TOKEN_URL, client_id=CLAUDE_CLIENT_ID)
    reply = await client.exchange_code(
        code, code_verifier=pair.verifier, redirect_uri=redirect, state="st"
    )
    assert claude.is_valid_access_token(reply.access_token)
    assert claude.last_request.headers["content-type"].startswith("application/json")

    codex = FakeCodexOAuth()
    pair = PKCEPair.generate(43)
    code = codex.issue_code(
        code_challenge=pair.challenge, redirect_uri="http://localhost:1455/auth/callback"
    )
    codex_client = form_client(
        http_for(codex), token_url=CODEX_TOKEN_URL, client_id=CODEX_CLIENT_ID
    )
    wrong = PKCEPair.generate()
    with pytest.raises(TokenEndpointError) as info:
        await codex_client.exchange_code(
            code, code_verifier=wrong.verifier, redirect_uri="http://localhost:1455/auth/callback"
        )
    assert not isinstance(info.value, RefreshError)
    assert info.value.error_code == "invalid_grant" and wrong.verifier not in str(info.value)
    reply = await codex_client.exchange_code(
        code, code_verifier=pair.verifier, redirect_uri="http://localhost:1455/auth/callback"
    )
    assert codex.is_valid_access_token(reply.access_token)
    assert json.loads(json.dumps(reply.extra))["token_type"] == "Bearer"
