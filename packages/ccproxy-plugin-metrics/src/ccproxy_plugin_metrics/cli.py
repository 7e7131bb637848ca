"""``ccproxy usage``: requests, tokens and API-equivalent cost from the usage ledger.

Reads the ledger file directly and read-only (no server needed, nothing is ever written), so it
works whether or not ``ccproxy serve`` is running. When a running server answers the GitHub
Copilot accounts' status (the ``oauth_copilot`` plugin), each account's premium-request quota is
printed under the table; without one nothing is said. Module-level imports stay light (typer).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ccproxy.plugins.cli import (
    ConfigOption,
    JsonOption,
    ServerPortOption,
    SetOption,
    load_cli_settings,
    server_url,
)

if TYPE_CHECKING:
    from ccproxy.plugins import Settings
    from ccproxy_plugin_metrics.usage import UsageReport, UsageTotals

__all__ = ["app", "render_table"]

app = typer.Typer(
    name="usage",
    help="Requests, tokens and API-equivalent cost recorded by the metrics plugin.",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

_HEADINGS = {
    "model": "MODEL",
    "provider": "PROVIDER",
    "account": "ACCOUNT",
    "route": "ROUTE",
    "day": "DAY (UTC)",
}
_CENT_FRACTION = Decimal("0.0001")
#: How long ``ccproxy usage`` waits for the running server's Copilot quota.
QUOTA_TIMEOUT_SECONDS = 2.0


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"ccproxy: {message}", err=True)
    return typer.Exit(code)


def _ledger_path(settings: Settings) -> Path:
    from ccproxy.plugins import PluginConfigError, validate_plugin_config
    from ccproxy_plugin_metrics.config import MetricsConfig

    try:
        validated = validate_plugin_config(
            "metrics", MetricsConfig, settings.plugin_table("metrics")
        )
    except PluginConfigError as exc:
        raise _fail(f"configuration error: {exc}", 2) from None
    assert isinstance(validated, MetricsConfig)
    return validated.ledger_path


def _money(amount: Decimal) -> str:
    return f"${amount.quantize(_CENT_FRACTION, rounding=ROUND_HALF_UP):,}"


def _row(totals: UsageTotals, key: str, *, premium: bool) -> list[str]:
    cells = [
        key,
        f"{totals.requests:,}",
        f"{totals.input_tokens:,}",
        f"{totals.output_tokens:,}",
        f"{totals.cache_read_tokens:,}",
        f"{totals.cache_write_tokens:,}",
        _money(totals.cost_usd),
    ]
    if premium:
        units = totals.premium_units
        cells.append("-" if units is None else f"{units:,}")
    return cells


def render_table(report: UsageReport) -> str:
    """The report as an aligned text table with a total line (and a ``PREMIUM REQUESTS``
    column when any request of the range came from a provider that bills them)."""
    premium = report.has_premium
    headings = [
        _HEADINGS[report.group_by],
        "REQUESTS",
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "CACHE WRITE",
        "COST (USD)",
        *(["PREMIUM REQUESTS"] if premium else []),
    ]
    rows = [_row(group, group.key, premium=premium) for group in report.groups]
    total = _row(report.total, "TOTAL", premium=premium)
    widths = [max(len(line[i]) for line in [headings, *rows, total]) for i in range(len(headings))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [fmt(headings), rule, *(fmt(row) for row in rows), rule, fmt(total)]
    if report.total.unpriced_requests:
        lines.append(
            f"{report.total.unpriced_requests:,} request(s) have no price "
            "(model unknown to the pricing plugin, or it was not installed)."
        )
    lines.append("Cost is what the same tokens would cost on the pay-as-you-go API.")
    if premium:
        lines.append(
            "Premium requests are GitHub Copilot's: requests a person made, times the model's "
            "multiplier (tool-call follow-ups are free)."
        )
    return "\n".join(lines)


def copilot_quota_lines(settings: Settings, *, port: int | None = None) -> list[str]:
    """Each Copilot account's premium-request quota as the running server last read it; empty
    (and silent) when no server answers or it runs no ``oauth_copilot`` plugin."""
    import httpx

    from ccproxy_plugin_metrics.premium import QUOTA_STATUS_PATH, quota_lines

    headers = {"accept": "application/json"}
    token = settings.security.auth_token
    if token is not None:
        headers["authorization"] = f"Bearer {token.get_secret_value()}"
    url = server_url(settings, port=port) + QUOTA_STATUS_PATH
    try:
        # The local server only: no proxy from the environment.
        with httpx.Client(timeout=QUOTA_TIMEOUT_SECONDS, trust_env=False) as client:
            response = client.get(url, headers=headers)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return []
    return quota_lines(body) if isinstance(body, dict) else []


def _period(report: UsageReport) -> str:
    until = report.until.strftime("%Y-%m-%d %H:%M UTC")
    if report.since is None:
        return f"Usage until {until}"
    return f"Usage from {report.since.strftime('%Y-%m-%d %H:%M UTC')} until {until}"


@app.command()
def usage(
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="Start: relative (7d, 24h, 90m, 2w), an ISO date or datetime, or 'all'.",
        ),
    ] = "30d",
    until: Annotated[
        str,
        typer.Option("--until", help="End (exclusive; a bare date includes that day)."),
    ] = "now",
    by: Annotated[
        str, typer.Option("--by", help="Group by model, provider, account, route or day (UTC).")
    ] = "model",
    as_json: JsonOption = False,
    ledger: Annotated[
        Path | None,
        typer.Option(
            "--ledger",
            help="Ledger file to read (default: plugins.metrics.ledger_path).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    port: ServerPortOption = None,
    config: ConfigOption = None,
    sets: SetOption = None,
) -> None:
    """Requests, tokens and API-equivalent cost per model, provider or day."""
    from ccproxy_plugin_metrics.usage import (
        GROUP_BY,
        LedgerMissingError,
        UsageQueryError,
        parse_instant,
        read_usage,
    )

    if by not in GROUP_BY:
        raise _fail(f"--by must be one of {', '.join(GROUP_BY)}; got {by!r}", 2)
    now = datetime.now(UTC)
    try:
        start = None if since.strip().lower() == "all" else parse_instant(since, now=now)
        end = parse_instant(until, now=now, end_of_day=True)
    except UsageQueryError as exc:
        raise _fail(str(exc), 2) from None
    settings = load_cli_settings(config=config, sets=sets)
    path = ledger.expanduser() if ledger is not None else _ledger_path(settings)
    try:
        report = read_usage(path, since=start, until=end, group_by=by)
    except LedgerMissingError:
        typer.echo(
            f"No usage recorded yet: there is no ledger at {path}.\n"
            "The metrics plugin writes it while `ccproxy serve` proxies requests "
            "(plugins.metrics.ledger_path sets where)."
        )
        _echo_quota(settings, port)
        return
    except Exception as exc:  # sqlite3 errors: not a ledger, unreadable, locked
        raise _fail(f"cannot read the usage ledger at {path}: {exc}") from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    typer.echo(f"{_period(report)} (ledger: {path})")
    typer.echo("")
    if not report.groups:
        typer.echo("No requests in this period.")
    else:
        typer.echo(render_table(report))
    _echo_quota(settings, port)


def _echo_quota(settings: Settings, port: int | None) -> None:
    lines = copilot_quota_lines(settings, port=port)
    if lines:
        typer.echo("")
        typer.echo("\n".join(lines))
