"""FakeCopilot's GitHub side: the device flow, the token mint and the usage endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest

from ccproxy.testing import FakeCopilot, LiveServer
from ccproxy.testing.fakes import COPILOT_CLIENT_ID

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JSON = {"accept": "application/json"}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeCopilot:
    return FakeCopilot(clock=clock)


@pytest.fixture
async def client(fake: FakeCopilot) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake)
    async with httpx.AsyncClient(transport=transport, base_url="http://github.test") as client:
        yield client


async def start(client: httpx.AsyncClient, client_id: str = COPILOT_CLIENT_ID) -> dict[str, str]:
    answer = await client.post(
        "/login/device/code", data={"client_id": client_id, "scope": "read:user"}, headers=JSON
    )
    assert answer.status_code == 200
    return dict(answer.json())


async def poll(client: httpx.AsyncClient, device_code: str) -> dict[str, str]:
    form = {"client_id": COPILOT_CLIENT_ID, "device_code": device_code, "grant_type": GRANT}
    answer = await client.post("/login/oauth/access_token", data=form, headers=JSON)
    assert answer.status_code == 200  # GitHub reports device-flow errors with HTTP 200
    return dict(answer.json())


# --- device flow -----------------------------------------------------------------------------


async def test_device_flow_pending_then_approved(
    fake: FakeCopilot, client: httpx.AsyncClient
) -> None:
    device = await start(client)
    assert device["verification_uri"] == "https://github.com/login/device"
    assert (device["expires_in"], device["interval"]) == (899, 5)
    assert fake.pending_user_codes == [device["user_code"]]
    assert (await poll(client, device["device_code"]))["error"] == "authorization_pending"

    fake.approve(device["user_code"], user="mona")
    granted = await poll(client, device["device_code"])

    assert granted["token_type"] == "bearer"
    assert granted["scope"] == "read:user"
    assert granted["access_token"].startswith("gho_")
    assert granted["access_token"] in fake.github_tokens
    assert (await poll(client, device["device_code"]))["error"] == "incorrect_device_code"
    assert fake.device_poll_count == 3
    assert fake.usage_payload("mona")["login"] == "mona"


async def test_device_flow_slow_down_denied_expired(
    fake: FakeCopilot, client: httpx.AsyncClient, clock: Clock
) -> None:
    device = await start(client)
    fake.slow_down_next_poll()
    slowed = await poll(client, device["device_code"])
    assert (slowed["error"], slowed["interval"]) == ("slow_down", 10)
    assert (await poll(client, device["device_code"]))["error"] == "authorization_pending"

    fake.deny(device["user_code"])
    assert (await poll(client, device["device_code"]))["error"] == "access_denied"

    later = await start(client)
    clock.now += 900
    expired = await poll(client, later["device_code"])
    assert expired["error"] == "expired_token"
    assert expired["error_uri"].startswith("https://docs.github.com/")


async def test_device_flow_refusals(fake: FakeCopilot, client: httpx.AsyncClient) -> None:
    assert (await start(client, "Iv1.someoneelse"))["error"] == "incorrect_client_credentials"
    device = await start(client)
    wrong_grant = await client.post(
        "/login/oauth/access_token",
        json={"client_id": COPILOT_CLIENT_ID, "device_code": device["device_code"]},
        headers=JSON,
    )
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert (await poll(client, "nope"))["error"] == "incorrect_device_code"
    with pytest.raises(KeyError):
        fake.approve("ZZZZ-ZZZZ")


async def test_poll_interval_enforced_when_asked(clock: Clock) -> None:
    fake = FakeCopilot(clock=clock, enforce_poll_interval=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://github.test"
    ) as client:
        device = await start(client)
        assert (await poll(client, device["device_code"]))["error"] == "authorization_pending"
        assert (await poll(client, device["device_code"]))["error"] == "slow_down"
        clock.now += 10
        assert (await poll(client, device["device_code"]))["error"] == "authorization_pending"


async def test_without_accept_json_github_answers_a_form(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/login/device/code", data={"client_id": COPILOT_CLIENT_ID, "scope": "read:user"}
    )
    assert answer.headers["content-type"].startswith("application/x-www-form-urlencoded")
    fields = dict(parse_qsl(answer.text))
    assert fields["interval"] == "5"
    assert fields["device_code"]


# --- mint ------------------------------------------------------------------------------------


async def test_mint_expiry_and_401(
    fake: FakeCopilot, client: httpx.AsyncClient, clock: Clock
) -> None:
    github_token = fake.issue_github_token()
    answer = await client.get(
        "/copilot_internal/v2/token", headers={"authorization": f"token {github_token}"}
    )
    assert answer.status_code == 200
    minted = answer.json()
    assert minted["endpoints"]["api"] == "http://copilot.test"
    assert minted["expires_at"] == int(clock.now + 1800)
    assert (minted["refresh_in"], minted["sku"], minted["chat_enabled"]) == (
        1500,
        "monthly_subscriber",
        True,
    )
    assert minted["token"].startswith("tid=")
    assert f";exp={minted['expires_at']};" in minted["token"]
    assert fake.copilot_tokens == {minted["token"]}
    assert fake.mint_count == 1

    bearer = await client.get(
        "/copilot_internal/v2/token", headers={"authorization": f"Bearer {github_token}"}
    )
    assert bearer.status_code == 200
    clock.now += 1800
    assert fake.copilot_tokens == set()

    fake.revoke_github_token(github_token)
    refused = await client.get(
        "/copilot_internal/v2/token", headers={"authorization": f"token {github_token}"}
    )
    assert refused.status_code == 401
    assert refused.json()["message"] == "Bad credentials"
    assert github_token in fake.revoked_github_tokens
    assert (await client.get("/copilot_internal/v2/token")).status_code == 401
    assert fake.mint_count == 2


async def test_expire_copilot_tokens(fake: FakeCopilot) -> None:
    token = fake.mint_copilot_token()
    assert fake.copilot_tokens == {token}
    fake.expire_copilot_tokens()
    assert fake.copilot_tokens == set()


async def test_plan_picks_the_sku_and_api_url_is_returned(clock: Clock) -> None:
    fake = FakeCopilot(clock=clock, plan="business", api_url="http://127.0.0.1:9/api")
    token = fake.issue_github_token()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://api.github.test"
    ) as client:
        minted = await client.get(
            "/copilot_internal/v2/token", headers={"authorization": f"token {token}"}
        )
        usage = await client.get(
            "/copilot_internal/user", headers={"authorization": f"token {token}"}
        )
    assert minted.json()["sku"] == "copilot_for_business_seat"
    assert minted.json()["endpoints"]["api"] == "http://127.0.0.1:9/api"
    assert usage.json()["copilot_plan"] == "business"


# --- usage -----------------------------------------------------------------------------------


async def test_usage_shape(fake: FakeCopilot, client: httpx.AsyncClient) -> None:
    token = fake.issue_github_token("mona")
    answer = await client.get("/copilot_internal/user", headers={"authorization": f"token {token}"})
    usage = answer.json()
    assert (usage["login"], usage["copilot_plan"], usage["quota_reset_date"]) == (
        "mona",
        "individual",
        "2027-01-01",
    )
    snapshots = usage["quota_snapshots"]
    assert set(snapshots) == {"chat", "completions", "premium_interactions"}
    premium = snapshots["premium_interactions"]
    assert (premium["entitlement"], premium["remaining"], premium["percent_remaining"]) == (
        300,
        300,
        100.0,
    )
    assert (premium["unlimited"], premium["overage_permitted"]) == (False, False)
    assert snapshots["chat"]["unlimited"] is True
    assert (await client.get("/copilot_internal/user")).status_code == 401


async def test_device_flow_on_a_live_server() -> None:
    fake = FakeCopilot()
    async with LiveServer(fake) as server, httpx.AsyncClient(base_url=server.url) as client:
        device = await start(client)
        fake.approve(device["user_code"])
        granted = await poll(client, device["device_code"])
        minted = await client.get(
            "/copilot_internal/v2/token",
            headers={"authorization": f"token {granted['access_token']}"},
        )
    assert minted.json()["token"] in fake.copilot_tokens


async def test_a_github_token_added_by_the_test_mints(
    fake: FakeCopilot, client: httpx.AsyncClient
) -> None:
    fake.github_tokens.add("gho_from_an_apps_json_file")
    minted = await client.get(
        "/copilot_internal/v2/token", headers={"authorization": "token gho_from_an_apps_json_file"}
    )
    unknown = await client.get(
        "/copilot_internal/v2/token", headers={"authorization": "token gho_never_issued"}
    )
    assert (minted.status_code, unknown.status_code) == (200, 401)
