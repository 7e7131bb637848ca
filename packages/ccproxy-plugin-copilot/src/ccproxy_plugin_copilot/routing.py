"""Which Copilot endpoint serves a request, and the model catalogue that decides it.

:class:`ModelDirectory` keeps the :class:`~ccproxy_plugin_copilot.models.Catalogue` fresh: it
fetches ``GET {api base}/models`` with the same credential and headers as the requests
(single-flight, bounded by ``models_timeout_seconds``), when it is older than
``models_ttl_seconds``, after a miss and after the backend refused a model it lists (at most
every ``models_miss_refresh_seconds`` in all); a failed fetch keeps what was known and is
logged. Requests wait for it only while there is no catalogue at all, or for a model missing from
it; a stale catalogue is served while one background fetch replaces it.

:class:`CopilotRouter` is the adapter the routes call: it reads the body's ``model``, resolves it
against the catalogue and hands the request to the adapter of the upstream format
:func:`~ccproxy_plugin_copilot.models.choose_format` picks — the client's own format when the
model serves it (a passthrough), else the richest one it serves, converted through the IR.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request

from ccproxy.plugins import AccountSet, TokenSource
from ccproxy.plugins.provider import (
    ProviderAdapter,
    UnknownModelError,
    WireFormat,
    loads_client_json,
)
from ccproxy_plugin_copilot.models import Catalogue, CopilotModelAliases, choose_format

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Message, Receive

    from ccproxy.plugins import PluginContext
    from ccproxy.plugins.provider import ProviderEndpoint

__all__ = ["CatalogueUnavailable", "CopilotRouter", "ModelDirectory", "first_source"]


class CatalogueUnavailable(RuntimeError):
    """The catalogue could not be fetched (no credential, or the backend refused)."""


def first_source(found: TokenSource | AccountSet | None) -> TokenSource | None:
    """The token source to read the catalogue with: the one source, or an account set's
    ``default`` account (else its first)."""
    if found is None:
        return None
    if isinstance(found, AccountSet):
        accounts = found.accounts()
        return accounts.get("default") or next(iter(accounts.values()), None)
    return found


class ModelDirectory:
    """Fetches and refreshes the catalogue (see the module docstring).

    Requests wait for a fetch only while there is no catalogue at all (and when a model is
    missing from it, at most every ``miss_refresh_seconds``); a stale or invalidated catalogue
    is served while one background fetch replaces it. Every fetch is bounded by
    ``timeout_seconds``, and fetches start at most every ``miss_refresh_seconds`` whatever
    asked for them.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        fetch: Callable[[], Awaitable[Any]],
        *,
        ttl_seconds: float,
        miss_refresh_seconds: float,
        context: PluginContext,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalogue = catalogue
        self._fetch = fetch
        self.ttl_seconds = ttl_seconds
        self.miss_refresh_seconds = miss_refresh_seconds
        self.timeout_seconds = timeout_seconds
        self._context = context
        self._clock = clock
        self._lock = asyncio.Lock()
        self._attempted_at: float | None = None
        self._background: asyncio.Task[bool] | None = None
        self.last_error: str | None = None

    def invalidate(self) -> None:
        """Refetch soon (the backend refused a model the catalogue lists): the next request
        starts a background fetch, no sooner than ``miss_refresh_seconds`` after the last."""
        self.catalogue.fetched_at = None

    async def ensure(self) -> None:
        """Have a catalogue: fetch (and wait) when there is none, refresh in the background
        when it is older than the TTL or invalidated (failures retried after the miss
        interval, not on every request)."""
        fetched = self.catalogue.fetched_at
        if fetched is not None and self._clock() - fetched < self.ttl_seconds:
            return
        if self.catalogue.models:
            self.refresh_in_background()
            return
        await self.refresh()

    def refresh_in_background(self) -> None:
        """Start one background fetch, unless one runs or the last started less than
        ``miss_refresh_seconds`` ago."""
        if self._background is not None and not self._background.done():
            return
        if not self._due(self.miss_refresh_seconds):
            return
        self._background = asyncio.get_running_loop().create_task(
            self.refresh(),
            name="copilot-models-refresh",
        )

    async def close(self) -> None:
        """Cancel a background fetch (the app is stopping)."""
        task, self._background = self._background, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _due(self, min_interval: float) -> bool:
        attempted = self._attempted_at
        return attempted is None or self._clock() - attempted >= min_interval

    async def refresh(self, *, min_interval: float | None = None) -> bool:
        """Fetch now, unless another fetch started less than ``min_interval`` seconds ago
        (default ``miss_refresh_seconds``); whether a fetch succeeded."""
        attempted = self._attempted_at
        if not self._due(self.miss_refresh_seconds if min_interval is None else min_interval):
            return False
        async with self._lock:
            if self._attempted_at != attempted:  # someone fetched while this one waited
                return self.last_error is None
            self._attempted_at = self._clock()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    payload = await self._fetch()
            except Exception as exc:
                if isinstance(exc, TimeoutError):
                    self.last_error = f"GET /models took longer than {self.timeout_seconds:g}s"
                else:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                self._context.logger.warning("copilot_models_unavailable", error=self.last_error)
                return False
            self.catalogue.replace(payload, now=self._clock())
            self.last_error = None
            self._context.logger.debug("copilot_models_fetched", count=len(self.catalogue.models))
            return True


async def fetch_models(
    context: PluginContext,
    source: TokenSource | None,
    *,
    base_url: str,
    headers: Mapping[str, str],
    timeout_seconds: float | None = None,
) -> Any:
    """``GET {base}/models`` with ``source``'s token (re-minted once on a 401); each GET times
    out after ``timeout_seconds`` (``None``: the shared client's timeout)."""
    if source is None:
        raise CatalogueUnavailable("no Copilot credential (run: ccproxy auth login copilot)")
    token = await source.access_token()
    for attempt in (1, 2):
        response = await context.http_client.get(
            f"{base_url.rstrip('/')}/models",
            headers={
                **headers,
                "authorization": f"Bearer {token}",
                "x-request-id": str(uuid.uuid4()),
                # What VS Code sends for the model list; never a premium request.
                "openai-intent": "model-access",
                "x-initiator": "agent",
                "accept": "application/json",
            },
            timeout=httpx.USE_CLIENT_DEFAULT if timeout_seconds is None else timeout_seconds,
        )
        if response.status_code == 401 and attempt == 1:
            token = await source.refresh(token)
            continue
        if response.status_code != 200:
            raise CatalogueUnavailable(f"GET /models answered {response.status_code}")
        return response.json()
    raise AssertionError("unreachable")


class CopilotRouter(ProviderAdapter):
    """Hands each request to the adapter of the upstream format its model is served on.

    It is a ``ProviderAdapter`` (on the Chat endpoint) so that the core lists its accounts; it
    never runs the pipeline itself.
    """

    def __init__(
        self,
        endpoint: ProviderEndpoint,
        context: PluginContext,
        *,
        token_source: Callable[[], TokenSource | AccountSet | None],
        adapters: Mapping[WireFormat, ProviderAdapter],
        aliases: CopilotModelAliases,
        directory: ModelDirectory,
    ) -> None:
        super().__init__(endpoint, context, token_source=token_source)
        self.adapters = dict(adapters)
        self.aliases = aliases
        self.directory = directory

    async def handle(
        self, request: Request, client_format: WireFormat, *, route: str | None = None
    ) -> Response:
        """Serve the request on the adapter :meth:`choose` picks.

        The body is read here, then given to the adapter in a request of its own: read with
        ``request.body()``, it would stay on the request, which lives as long as the answer
        streams.
        """
        try:
            raw = b"".join([chunk async for chunk in request.stream()])
        except Exception:  # a body the client never finished sending, or one refused
            # The client's own adapter answers it, in the client's dialect.
            return await self.adapters[client_format].handle(request, client_format, route=route)
        chosen = await self.choose(raw, client_format)
        replayed = Request(request.scope, _replay(raw, request.receive))
        return await self.adapters[chosen].handle(replayed, client_format, route=route)

    async def choose(self, raw: bytes, client_format: WireFormat) -> WireFormat:
        """The upstream format for a request with body ``raw`` (the client's own when the body is
        no JSON object: that adapter then answers the error in the client's dialect)."""
        try:
            body = loads_client_json(raw)
        except Exception:  # BodyError
            return client_format
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return client_format
        await self.directory.ensure()
        if not self.aliases.known(model):
            await self.directory.refresh()
        try:
            upstream = self.aliases.resolve(model).upstream_model
        except UnknownModelError:
            return client_format
        return choose_format(client_format, self.aliases.catalogue.get(upstream), upstream)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """``receive`` that gives ``raw`` as the whole body once, then what ``receive`` gives (a
    disconnect only when the client really leaves)."""
    pending: list[bytes] = [raw]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay
