"""PKCE pairs, state, authorize URLs, and the generic device-code poll loop."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from ccproxy.auth import (
    PENDING,
    SLOW_DOWN,
    DeviceFlowTimeout,
    Pending,
    PKCEPair,
    build_authorize_url,
)
from ccproxy.auth.device import poll_until
from ccproxy.auth.pkce import generate_state
from ccproxy.testing import FakeCodexOAuth
from ccproxy.testing.fakes import pkce_challenge

UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]+$")


# --- PKCE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [43, 64, 128])
def test_verifier_has_requested_length_and_unreserved_chars(length: int) -> None:
    pair = PKCEPair.generate(length)
    assert len(pair.verifier) == length
    assert UNRESERVED.match(pair.verifier)
    assert pair.method == "S256"


@pytest.mark.parametrize("length", [42, 129])
def test_verifier_length_outside_rfc_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="43-128"):
        PKCEPair.generate(length)


def test_challenge_is_s256_base64url_without_padding() -> None:
    # RFC 7636 appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert PKCEPair.challenge_for(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    pair = PKCEPair.generate()
    assert "=" not in pair.challenge
    assert pair.challenge == pkce_challenge(pair.verifier)  # what the fakes verify


def test_pairs_and_states_are_random_and_repr_hides_verifier() -> None:
    first, second = PKCEPair.generate(), PKCEPair.generate()
    assert first.verifier != second.verifier
    assert first.verifier not in repr(first)
    assert first.challenge in repr(first)
    states = {generate_state() for _ in range(50)}
    assert len(states) == 50
    assert all(len(s) >= 43 and UNRESERVED.match(s) for s in states)


def test_build_authorize_url_keeps_order_existing_query_and_drops_none() -> None:
    pair = PKCEPair.generate()
    url = build_authorize_url(
        "https://claude.com/cai/oauth/authorize?code=true",
        {
            "client_id": "cid",
            "response_type": "code",
            "redirect_uri": "https://platform.claude.com/oauth/code/callback",
            "scope": "user:profile user:inference",
            "state": "st",
            "code_challenge": pair.challenge,
            "code_challenge_method": "S256",
            "prompt": None,
        },
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "claude.com",
        "/cai/oauth/authorize",
    )
    query = parse_qsl(parts.query)
    assert [k for k, _ in query] == [
        "code",
        "client_id",
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    assert dict(query)["scope"] == "user:profile user:inference"
    assert "%20" in parts.query and "+" not in parts.query


def test_build_authorize_url_param_replaces_same_name_in_base() -> None:
    url = build_authorize_url("https://a.example/auth?x=1&y=2#frag", {"x": "3"})
    assert url == "https://a.example/auth?y=2&x=3#frag"


# --- device poll loop ----------------------------------------------------------------------


class VirtualTime:
    """A sleep that only advances a clock, and records what it was asked to wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*results: Any) -> Any:
    calls: list[int] = []

    async def poll() -> Any:
        calls.append(1)
        result = results[len(calls) - 1]
        if isinstance(result, BaseException):
            raise result
        return result

    poll.calls = calls  # type: ignore[attr-defined]
    return poll


async def test_poll_until_waits_interval_between_pending_polls() -> None:
    vt = VirtualTime()
    poll = scripted(PENDING, PENDING, {"code": "ok"})
    result = await poll_until(poll, 5, 60, sleep=vt.sleep, clock=vt.clock)
    assert result.value == {"code": "ok"}
    assert result.attempts == 3
    assert vt.sleeps == [5, 5, 5]
    assert result.elapsed_seconds == 15


async def test_poll_until_slow_down_adds_five_seconds_for_later_polls() -> None:
    vt = VirtualTime()
    poll = scripted(PENDING, SLOW_DOWN, PENDING, SLOW_DOWN, "done")
    result = await poll_until(poll, 2, 600, sleep=vt.sleep, clock=vt.clock, poll_first=True)
    assert result.value == "done"
    assert vt.sleeps == [2, 7, 7, 12]
    assert result.interval == 12


async def test_poll_until_times_out_without_exceeding_the_budget() -> None:
    vt = VirtualTime()

    async def never() -> Pending:
        return PENDING

    with pytest.raises(DeviceFlowTimeout, match="30 seconds"):
        await poll_until(never, 5, 30, sleep=vt.sleep, clock=vt.clock)
    assert vt.now <= 30
    assert len(vt.sleeps) == 6


async def test_poll_until_propagates_terminal_errors() -> None:
    vt = VirtualTime()
    poll = scripted(PENDING, PermissionError("access_denied"))
    with pytest.raises(PermissionError, match="access_denied"):
        await poll_until(poll, 1, 60, sleep=vt.sleep, clock=vt.clock)


async def test_poll_until_drives_the_fake_codex_device_flow(http_for: Any) -> None:
    """The plugin's future device login, in miniature: pending (403) until approved."""
    fake = FakeCodexOAuth(device_interval=1)
    http: httpx.AsyncClient = http_for(fake)
    start = (
        await http.post(
            "/api/accounts/deviceauth/usercode", json={"client_id": "app_EMoamEEZ73f0CkXaXp7hrann"}
        )
    ).json()
    vt = VirtualTime()

    async def poll() -> dict[str, Any] | Pending:
        response = await http.post(
            "/api/accounts/deviceauth/token",
            json={"device_auth_id": start["device_auth_id"], "user_code": start["user_code"]},
        )
        if response.status_code in (403, 404):
            if fake.device_poll_count == 2:
                fake.approve_device(start["user_code"])
            return PENDING
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    result = await poll_until(poll, start["interval"], 60, sleep=vt.sleep, clock=vt.clock)
    assert set(result.value) >= {"authorization_code", "code_verifier"}
    assert result.attempts == 3
    assert fake.device_poll_count == 3
