"""Several Codex accounts: a second ChatGPT login in the accounts folder takes over on a 429."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from ccproxy.testing import AccountWindows, FakeCodex, LiveServer
from codex_kit import Setup, codex_app

pytestmark = pytest.mark.timeout(60)

BODY = {"model": "gpt-5", "input": [{"role": "user", "content": "hi"}], "stream": False}


async def test_a_second_login_takes_over_and_each_account_sends_its_own_account_id(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)
    default = setup.write_credentials()
    work = setup.oauth.mint_credentials(expires_in=3600, account_id="acct-work")
    folder = Path(os.environ["XDG_CONFIG_HOME"]) / "ccproxy" / "accounts" / "codex"
    folder.mkdir(parents=True)
    (folder / "work.json").write_text(json.dumps(setup.oauth.auth_json(work)))
    (folder / "work.json").chmod(0o600)
    windows = AccountWindows({default["access_token"]: 1})
    setup.fake = FakeCodex(oauth=setup.oauth, account_windows=windows)
    async with codex_app(setup, codex={"account_strategy": "fill_first"}) as app:
        async with LiveServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
            answers = [await client.post("/codex/v1/responses", json=BODY) for _ in range(3)]
            rows = {r["name"]: r for r in (await client.get("/api/accounts")).json()["codex"]}
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert windows.served == {default["access_token"]: 1, work["access_token"]: 2}
    assert windows.refused == {default["access_token"]: 1}
    assert rows["default"]["state"] == "cooling_down" and rows["work"]["state"] == "ready"
    # The fake checks chatgpt-account-id against each token's own account: both were right.
    sent = [r.headers.get("chatgpt-account-id") for r in setup.fake.requests]
    assert sent == ["acct-codex-fake", "acct-codex-fake", "acct-work", "acct-work"]
