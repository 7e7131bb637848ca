"""``ccproxy pricing show MODEL`` (local, no server needed) and ``ccproxy pricing refresh``.

``show`` reads the same table a starting server would (the cache file when it is valid and newer
than the bundled snapshot, else the snapshot) and never touches the network. ``refresh`` asks the
running server to refresh (``POST /pricing/refresh``) with the configured ``security.auth_token``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, NoReturn

import httpx
import typer

from ccproxy.plugins import PluginConfigError, Settings, validate_plugin_config
from ccproxy.plugins.cli import load_cli_settings
from ccproxy_plugin_pricing.config import PricingConfig
from ccproxy_plugin_pricing.cost import PRICE_KINDS, PriceKind, tier_thresholds, unit_prices
from ccproxy_plugin_pricing.service import PriceBook
from ccproxy_plugin_pricing.table import startup_table

__all__ = ["app", "server_url"]

app = typer.Typer(
    name="pricing",
    help="Model prices: show them from the local table, or refresh the running server's table.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (default: the usual search).", dir_okay=False
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Set a dotted config key. Repeatable."),
]

_LABELS: Mapping[PriceKind, str] = MappingProxyType(
    {
        "input": "input",
        "output": "output (incl. reasoning)",
        "cache_read": "cache read",
        "cache_write_5m": "cache write 5m",
        "cache_write_1h": "cache write 1h",
    }
)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"ccproxy pricing: {message}", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None, sets: list[str] | None) -> Settings:
    return load_cli_settings(config=config, sets=sets)


def _pricing_config(settings: Settings) -> PricingConfig:
    try:
        config = validate_plugin_config("pricing", PricingConfig, settings.plugin_table("pricing"))
    except PluginConfigError as exc:
        _fail(f"configuration error: {exc}", 2)
    assert isinstance(config, PricingConfig)
    return config


def server_url(settings: Settings) -> str:
    """The base URL of the server ``settings`` describe (a wildcard bind means loopback)."""
    host = settings.server.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # nosec B104 # maps a wildcard host to loopback; binds nothing
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{settings.server.port}"


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _price_lines(entry: dict[str, Any], prompt_total: int) -> list[str]:
    prices = unit_prices(entry, prompt_total).per_million()
    width = max(len(label) for label in _LABELS.values())
    return [f"  {_LABELS[kind]:<{width}}  {_money(prices[kind])}" for kind in PRICE_KINDS]


@app.command("show")
def show(
    model: Annotated[str, typer.Argument(help="Model name, e.g. claude-sonnet-4-5 or gpt-5.")],
    config: ConfigOption = None,
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print MODEL's prices in USD per million tokens (from the local table; no server needed)."""
    pricing = _pricing_config(_settings(config, set_))
    table, problem = startup_table(pricing.cache_file, min_models=pricing.min_models)
    if problem is not None:
        typer.echo(f"ccproxy pricing: warning: {problem}", err=True)
    book = PriceBook(table, pricing.aliases)
    info = book.model_info(model)
    if info is None:
        _fail(f"no price known for model {model!r} (table: {table.describe()})")
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    entry = dict(table.models[info["model"]])
    resolution = info["resolution"]
    how = resolution["rule"] + (f" {resolution['alias']!r}" if resolution["alias"] else "")
    lines = [
        f"{info['model']}  ({info['provider']}, {info['mode']})",
        f"  requested {model!r}, resolved by {how}",
        f"  source: {table.describe()}",
        "",
        "USD per million tokens",
        *_price_lines(entry, 0),
    ]
    for threshold in tier_thresholds(entry):
        lines += ["", f"above {threshold:,} prompt tokens", *_price_lines(entry, threshold + 1)]
    limits = [
        f"{entry[key]:,} {label} tokens"
        for key, label in (("max_input_tokens", "input"), ("max_output_tokens", "output"))
        if key in entry
    ]
    if limits:
        lines += ["", "limits: " + ", ".join(limits)]
    typer.echo("\n".join(lines))


@app.command("refresh")
def refresh(
    config: ConfigOption = None,
    set_: SetOption = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Server base URL (default: from server.host and server.port)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 120.0,
) -> None:
    """Make the running server refresh its price table now, and print the outcome."""
    settings = _settings(config, set_)
    base = (url or server_url(settings)).rstrip("/")
    headers = {"accept": "application/json"}
    if settings.security.auth_token is not None:
        headers["authorization"] = f"Bearer {settings.security.auth_token.get_secret_value()}"
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.post(f"{base}/pricing/refresh", json={}, headers=headers)
    except httpx.HTTPError as exc:
        _fail(f"could not reach ccproxy at {base} ({type(exc).__name__}: {exc}); is it running?")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("ok"):
        table = body.get("table") or {}
        typer.echo(
            f"refreshed: {body.get('models')} models from {body.get('source_url')}"
            f" (fetched {table.get('as_of', 'now')})"
        )
        if body.get("cache_error"):
            typer.echo(f"warning: cache file not written: {body['cache_error']}", err=True)
        return
    message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    _fail(f"refresh failed: HTTP {response.status_code}: {message or response.text[:500]}")
