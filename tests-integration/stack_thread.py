"""Every plugin's app on a real uvicorn, with all upstreams faked, run in a background thread.

``with threaded_stack(home) as stack:`` starts, in one thread and event loop of its own, the
Anthropic and Codex fakes, both OAuth fakes, a loopback copy of the pricing table and the proxy
app (``create_app`` with the installed plugins) on 127.0.0.1; ``stack.url`` is the proxy. The
test's own thread stays free for synchronous clients such as Hypothesis and schemathesis drive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccproxy.app import create_app
from ccproxy.config import Settings
from ccproxy.testing import FakeAnthropic, FakeClaudeOAuth, FakeCodex, FakeCodexOAuth, LiveServer

CLAUDE_MODEL = "claude-sonnet-4-5"
CODEX_MODEL = "gpt-5-codex"


@dataclass
class ThreadedStack:
    url: str
    anthropic: FakeAnthropic
    codex: FakeCodex
    loop: asyncio.AbstractEventLoop
    errors: ErrorLog

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run ``coro`` in the stack's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class ErrorLog(logging.Handler):
    """The ``error=`` of every ERROR line the app logs, by its ``request_id``."""

    _FIELD = re.compile(r"(request_id|error)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        fields = {name: value[1:-1] for name, value in self._FIELD.findall(record.getMessage())}
        if "request_id" in fields:
            self.by_request[fields["request_id"]] = fields.get("error", record.getMessage())

    def cause(self, answer: str) -> str | None:
        """The logged error of the request whose id ``answer`` (an error body) names."""
        found = re.search(r"req_[0-9a-f]+", answer)
        return self.by_request.get(found.group(0)) if found else None


def _pricing_source() -> Starlette:
    # The bundled snapshot's ``models`` are entries of LiteLLM's table, the refresh's source.
    snapshot = resources.files("ccproxy_plugin_pricing").joinpath("data/prices.json").read_text()
    table = json.dumps(json.loads(snapshot)["models"]).encode()

    async def prices(request: Request) -> Response:
        return Response(table, media_type="application/json")

    return Starlette(routes=[Route("/prices.json", prices)])


def _write_credentials(
    home: Path, claude_oauth: FakeClaudeOAuth, codex_oauth: FakeCodexOAuth
) -> tuple[Path, Path]:
    """Valid Claude and Codex credential files (0600), minted by the OAuth fakes."""
    claude = home / ".claude" / ".credentials.json"
    codex = home / ".codex" / "auth.json"
    for path in (claude, codex):
        path.parent.mkdir(parents=True, exist_ok=True)
    claude.write_text(json.dumps(FakeClaudeOAuth.credentials_file(claude_oauth.mint_credentials())))
    codex.write_text(json.dumps(FakeCodexOAuth.auth_json(codex_oauth.mint_credentials())))
    claude.chmod(0o600)
    codex.chmod(0o600)
    return claude, codex


def stack_settings(
    home: Path,
    urls: dict[str, str],
    credentials: tuple[Path, Path],
    **extra: Any,
) -> Settings:
    """Settings pointing every plugin at the loopback fakes in ``urls``, state under ``home``."""
    claude_credentials, codex_credentials = credentials
    return Settings(
        plugins_disable_local_discovery=True,
        plugins={
            "claude": {"base_url": urls["anthropic"]},
            "oauth_claude": {
                "token_url": f"{urls['claude_oauth']}/v1/oauth/token",
                "credentials_file": str(claude_credentials),
            },
            "codex": {"base_url": urls["codex"]},
            "oauth_codex": {
                "token_url": f"{urls['codex_oauth']}/oauth/token",
                "credentials_file": str(codex_credentials),
            },
            "pricing": {
                "refresh_interval_hours": 0,
                "source_url": f"{urls['pricing']}/prices.json",
                "cache_dir": str(home / "pricing"),
            },
            "metrics": {"ledger_path": str(home / "usage.sqlite3")},
        },
        **extra,
    )


@contextmanager
def threaded_stack(home: Path, **settings: Any) -> Iterator[ThreadedStack]:
    """The whole stack in a background thread; stopped (servers and loop) on exit."""
    errors = ErrorLog()
    loop = asyncio.new_event_loop()
    ready: Future[ThreadedStack] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            claude_oauth, codex_oauth = FakeClaudeOAuth(), FakeCodexOAuth()
            anthropic = FakeAnthropic(oauth=claude_oauth)
            codex = FakeCodex(oauth=codex_oauth)
            async with AsyncExitStack() as servers:
                urls = {}
                for name, app in (
                    ("anthropic", anthropic),
                    ("codex", codex),
                    ("claude_oauth", claude_oauth),
                    ("codex_oauth", codex_oauth),
                    ("pricing", _pricing_source()),
                ):
                    urls[name] = (await servers.enter_async_context(LiveServer(app))).url
                credentials = _write_credentials(home, claude_oauth, codex_oauth)
                app = create_app(stack_settings(home, urls, credentials, **settings))
                proxy = await servers.enter_async_context(LiveServer(app))
                ready.set_result(ThreadedStack(proxy.url, anthropic, codex, loop, errors))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()

    root = logging.getLogger()
    root.addHandler(errors)
    thread = threading.Thread(target=run, name="ccproxy-stack", daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        root.removeHandler(errors)
