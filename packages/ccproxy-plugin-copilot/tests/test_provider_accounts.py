"""Several Copilot accounts: one account state for the provider, whatever endpoint a request
goes to (Chat, Responses, Messages) and in ``GET /api/accounts``."""

from __future__ import annotations

import pytest

from ccproxy.testing import FakeCopilot, Reply, app_client
from copilot_kit import Holder, copilot_app, served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def mints_with(fake: FakeCopilot, github_token: str) -> int:
    return len(
        [
            r
            for r in fake.requests
            if r.path == "/copilot_internal/v2/token"
            and r.headers.get("authorization") == f"token {github_token}"
        ]
    )


async def test_an_account_invalid_on_one_endpoint_is_invalid_on_all_and_listed_so() -> None:
    fake = FakeCopilot()
    fake.enqueue(Reply.text("one"), Reply.text("two"))
    holder = Holder()
    async with (
        copilot_app(fake, holder=holder, accounts=("default", "work")) as app,
        app_client(app) as client,
    ):
        assert holder.accounts is not None
        revoked = holder.accounts.sources["default"].github_token
        fake.revoke_github_token(revoked)  # default's credential is gone; work's is fine
        chat = await client.post(
            "/copilot/v1/chat/completions",
            json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]},
        )
        assert chat.status_code == 200, chat.text  # served by work, on the Chat endpoint
        rows = {row["name"]: row for row in (await client.get("/api/accounts")).json()["copilot"]}
        assert rows["default"]["state"] == "invalid"
        assert rows["work"]["state"] == "ready"
        tried = mints_with(fake, revoked)
        responses = await client.post(
            "/copilot/v1/responses", json={"model": "gpt-5.1-codex", "input": "Hi"}
        )
        assert responses.status_code == 200, responses.text
        assert mints_with(fake, revoked) == tried  # the Responses endpoint skipped default
    assert [path for path, _model in served(fake)] == ["/chat/completions", "/responses"]
