"""The dashboard in a real headless chromium, after traffic through both providers."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ccproxy.testing.browser import Page, open_page
from dashboard_kit import CLAUDE_MODEL, CODEX_MODEL, live_proxy, send_traffic

pytestmark = pytest.mark.timeout(90)
LOADED = "document.body?.dataset.loaded"
TOTALS = """[...document.querySelectorAll('#totals tbody tr')].map((row) => Object.fromEntries(
  [...row.children].map((cell) => [cell.dataset.column, cell.textContent])))"""
WINDOWS = "[...document.querySelectorAll('.window strong')].map((e) => e.textContent)"


def legend(chart: str) -> str:
    """The series names in the legend of ``chart``, in order."""
    return (
        f"[...document.querySelectorAll('#{chart} li[data-series]')].map((e) => e.dataset.series)"
    )


def drawn(chart: str) -> str:
    """The series that have at least one bar in ``chart``."""
    return (
        f"[...new Set([...document.querySelectorAll('#{chart} svg rect[data-series]')]"
        ".map((e) => e.dataset.series))]"
    )


def ledger_totals(path: Path) -> dict[str, dict[str, int]]:
    """Per model, straight from the ledger file."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT COALESCE(upstream_model, client_model), COUNT(*), "
            "SUM(error_kind IS NOT NULL), SUM(input_tokens), SUM(output_tokens) "
            "FROM requests GROUP BY 1"
        ).fetchall()
    finally:
        connection.close()
    return {
        model: {"requests": n, "errors": e, "input_tokens": i, "output_tokens": o}
        for model, n, e, i, o in rows
    }


def digits(text: str) -> int:
    return int("".join(c for c in text if c.isdigit()))


async def assert_shows_the_ledger(page: Page, ledger: Path) -> list[dict[str, Any]]:
    await page.wait_for(LOADED)
    charts = await page.evaluate("document.querySelectorAll('figure.chart svg rect').length")
    assert charts > 0
    figures = await page.evaluate(
        "[...document.querySelectorAll('figure.chart')].filter("
        "(f) => f.querySelector('svg rect')).length"
    )
    assert figures >= 2
    shown = await page.evaluate(TOTALS)
    expected = ledger_totals(ledger)
    assert {row["key"] for row in shown} == set(expected)
    for row in shown:
        for column, number in expected[row["key"]].items():
            assert digits(row[column]) == number, (row["key"], column)
    return list(shown)


def only_the_proxy(page: Page, origin: str) -> None:
    assert page.requested, "the page made no request at all"
    strangers = [url for url in page.requested if not url.startswith(origin + "/")]
    assert strangers == []


def keep(screenshot: Path) -> None:
    """Copy the screenshot where ``CCPROXY_SCREENSHOT_DIR`` says (the docs' image is made so)."""
    target = os.environ.get("CCPROXY_SCREENSHOT_DIR")
    if target:
        shutil.copy(screenshot, Path(target) / screenshot.name)


async def test_the_page_shows_charts_and_the_ledgers_totals(tmp_path: Path) -> None:
    ledger = tmp_path / "usage.sqlite3"
    async with live_proxy(ledger) as proxy:
        await send_traffic(proxy.upstreams, proxy.url)
        async with open_page(f"{proxy.url}/metrics/dashboard?range=24h&group_by=model") as page:
            await assert_shows_the_ledger(page, ledger)
            windows = await page.evaluate(WINDOWS)
            assert "claude · 5h" in windows
            assert "codex · primary" in windows
            # Requests and cost over time have one series per model (the dearest first);
            # the requests chart adds the errors in red.
            models = [CLAUDE_MODEL, CODEX_MODEL]
            assert await page.evaluate(legend("chart-requests")) == [*models, "errors"]
            assert sorted(await page.evaluate(drawn("chart-requests"))) == sorted(
                [*models, "errors"]
            )
            assert await page.evaluate(legend("chart-cost")) == models
            assert sorted(await page.evaluate(drawn("chart-cost"))) == sorted(models)
            caption = "document.querySelector('#chart-cost figcaption').textContent"
            assert await page.evaluate(caption) == "API-equivalent cost (USD) by model"
            failing = await page.evaluate("document.querySelector('#failing tbody').textContent")
            assert "529" in failing
            assert "/claude/v1/messages" in failing
            await page.evaluate("document.body.style.zoom = '1'")
            screenshot = tmp_path / "dashboard.png"
            await page.screenshot(screenshot)
            assert screenshot.stat().st_size > 10_000
            keep(screenshot)

            # The keyboard sorts the table: focus the requests heading and press Enter.
            await page.evaluate(
                "document.querySelector('#totals button[data-key=requests]').focus()"
            )
            await page.press("Enter", "Enter", 13, "\r")
            await page.wait_for(
                "document.querySelector('#totals th[aria-sort]')?.textContent === 'requests'"
            )
            order = [row["key"] for row in await page.evaluate(TOTALS)]
            assert order == ["claude-sonnet-4-6", "gpt-5.1-codex"]

            # Another grouping lands in the URL (to share or bookmark) and in the table.
            loaded = await page.evaluate(LOADED)
            await page.evaluate(
                "(() => { const s = document.getElementById('group_by'); s.focus();"
                " s.value = 'provider'; s.dispatchEvent(new Event('change', {bubbles: true})); })()"
            )
            await page.wait_for(f"{LOADED} !== {loaded!r}")
            assert "group_by=provider" in await page.evaluate("location.search")
            keys = {row["key"] for row in await page.evaluate(TOTALS)}
            assert keys == {"claude", "codex"}
            # ... and in the charts' series.
            assert await page.evaluate(legend("chart-requests")) == ["claude", "codex", "errors"]
            assert await page.evaluate(legend("chart-cost")) == ["claude", "codex"]

            # It updates while open: a new request shows up without a reload.
            await send_traffic(proxy.upstreams, proxy.url)
            await page.wait_for(
                "document.querySelector('#totals tfoot [data-column=requests]')"
                ".textContent === '10'",
                within=20,
            )
            only_the_proxy(page, proxy.url)


async def test_with_a_token_the_page_signs_in_once_and_keeps_it_out_of_the_url(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "usage.sqlite3"
    async with live_proxy(ledger, token="dash-token") as proxy:
        await send_traffic(proxy.upstreams, proxy.url, api_key="dash-token")
        async with open_page(f"{proxy.url}/metrics/dashboard?range=7d", dark=True) as page:
            await page.wait_for("document.querySelector('#login button')?.disabled === false")
            await page.evaluate(
                "(() => { document.getElementById('token').value = 'dash-token';"
                " document.getElementById('login').requestSubmit(); })()"
            )
            await assert_shows_the_ledger(page, ledger)
            assert "dash-token" not in await page.evaluate("location.href")
            assert "dash-token" not in await page.evaluate("document.cookie")  # HttpOnly
            assert await page.evaluate("location.search") == "?range=7d"
            await page.screenshot(tmp_path / "dashboard-dark.png")
            only_the_proxy(page, proxy.url)


def ledger_accounts(path: Path) -> set[str]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT DISTINCT COALESCE(account, '(none)') FROM requests")
        return {account for (account,) in rows}
    finally:
        connection.close()


async def test_each_account_has_its_windows_and_its_series(tmp_path: Path) -> None:
    ledger = tmp_path / "usage.sqlite3"
    # Two Claude accounts whose 5-hour windows allow 10 and 4 requests.
    accounts = {"default": ("tok-default", 10), "work": ("tok-work", 4)}
    async with live_proxy(ledger, claude_accounts=accounts) as proxy:
        await send_traffic(proxy.upstreams, proxy.url)
        async with open_page(f"{proxy.url}/metrics/dashboard?range=24h&group_by=account") as page:
            await page.wait_for(LOADED)
            cards = await page.evaluate(
                "[...document.querySelectorAll('.window')].map((card) => ["
                "card.querySelector('strong').textContent, card.querySelector('meter')?.value])"
            )
            shown = dict(cards)
            # Both accounts' windows show, each with its own share used; Codex has one account.
            assert {"claude · default · 5h", "claude · work · 5h", "codex · primary"} <= set(shown)
            assert shown["claude · default · 5h"] != shown["claude · work · 5h"]
            served = ledger_accounts(ledger)
            assert {"default", "work"} <= served
            series = await page.evaluate(legend("chart-requests"))
            assert set(series) == served | {"errors"}
            assert set(await page.evaluate(legend("chart-cost"))) == served
            await page.screenshot(tmp_path / "dashboard-accounts.png")
            only_the_proxy(page, proxy.url)
