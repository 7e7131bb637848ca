"""The request pipeline every provider route runs (DESIGN §4).

``ProviderAdapter.handle`` parses the client's body leniently, resolves the model alias, takes the
passthrough branch when client and upstream speak the same format (minimal edits, bytes relayed)
or converts through the IR otherwise, applies the provider profile, authenticates with the
provider's ``TokenSource`` (refreshing once on a 401), and answers errors in the client's dialect.
Exactly one ``REQUEST_COMPLETED`` is emitted per request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ccproxy.hooks import (
    AuthFailed,
    HookEvent,
    ProviderError,
    ProviderRequestPrepared,
    ProviderRequestSent,
    ProviderResponseReceived,
    RequestCompleted,
    RequestFailed,
    RequestStarted,
)
from ccproxy.http import send_upstream
from ccproxy.llm.codec import get_codec
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.ir import Request as IRRequest
from ccproxy.llm.ir import WireFormat
from ccproxy.logging import plugin_logger_name
from ccproxy.proxy.accounts import (
    DEFAULT_ACCOUNT,
    AccountPool,
    AccountStrategy,
    AllAccountsCoolingDown,
    NoUsableAccount,
    affinity_key,
)
from ccproxy.proxy.aliases import AliasResolution, ModelAliases, UnknownModelError
from ccproxy.proxy.client_watch import ClientWatch
from ccproxy.proxy.conversation import conversation_key
from ccproxy.proxy.dialect import Dialect
from ccproxy.proxy.errors import error_response
from ccproxy.proxy.exchange import (
    ClientError,
    Exchange,
    account_id,
    input_items,
    read_bounded,
    read_json,
)
from ccproxy.proxy.headers import (
    client_to_upstream_headers,
    rate_limit_headers,
    upstream_to_client_headers,
)
from ccproxy.proxy.profile import ProviderProfile, apply_body_profile, apply_header_profile
from ccproxy.proxy.rate_windows import cooldown_seconds
from ccproxy.proxy.record import RequestRecord
from ccproxy.proxy.relay import UpstreamRelay
from ccproxy.proxy.request_checks import check_client_body
from ccproxy.proxy.response_store import ResponseStore
from ccproxy.proxy.upstream_errors import is_dialect_error, upstream_error_details
from ccproxy.services import AccountSet
from ccproxy.state import StateUnavailable

if TYPE_CHECKING:
    from ccproxy.plugins.context import PluginContext
    from ccproxy.services import TokenSource

__all__ = ["NoCredentialsError", "ProviderAdapter", "ProviderEndpoint", "UpstreamRequest"]

_KEEP_ON_CONVERTED = ("retry-after", "request-id", "x-request-id")
_MAX_ERROR_BODY = 1024 * 1024
#: An account whose refresh failed for now rests this long before it is tried again.
CREDENTIAL_RETRY_SECONDS = 30.0


@runtime_checkable
class _MayPass(Protocol):
    """A token source's error that says whether it lasts (``ccproxy.auth.CredentialError``):
    ``lasting = False`` when trying again later may work."""

    lasting: bool


class NoCredentialsError(RuntimeError):
    """The provider has no usable credential; answered with 401 telling the user how to log in."""


@dataclass
class UpstreamRequest:
    """The request about to go upstream; hooks may edit it in ``PROVIDER_REQUEST_PREPARED`` only."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: Facts about the request worth counting, copied to ``RequestRecord.tags`` (e.g. a
    #: provider's billing class of the request); set by ``edit_upstream_request``.
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Prepared:
    """One request on its way: what goes upstream and what answering the client needs."""

    outgoing: UpstreamRequest
    passthrough: bool
    aliased: bool
    client_stream: bool
    ir_request: IRRequest | None
    client_input_items: list[dict[str, Any]] | None
    #: What keeps a conversation on one account (None: no conversation known).
    affinity: str | None = None
    previous_response_id: str | None = None


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where and how one provider's upstream is reached."""

    provider: str
    upstream_format: WireFormat
    base_url: str
    path: str
    profile: ProviderProfile
    aliases: ModelAliases
    #: The upstream only streams: non-streaming clients get the collected stream.
    stream_only: bool = False
    login_hint: str = ""
    #: With several accounts: spread new conversations (round_robin) or fill one first.
    account_strategy: AccountStrategy = "round_robin"
    #: With several accounts: keep using an account whose answers come from paid overage.
    allow_overage: bool = False


class ProviderAdapter:
    """Runs the pipeline for one provider. Subclass to add provider-specific edits."""

    def __init__(
        self,
        endpoint: ProviderEndpoint,
        context: PluginContext,
        *,
        token_source: Callable[[], TokenSource | AccountSet | None],
        response_store: ResponseStore | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self._token_source = token_source
        self.response_store = (
            response_store
            if response_store is not None
            else ResponseStore(state=context.shared_state)
        )
        self._last_url: tuple[str, httpx.URL] | None = None
        self._account_set_check: tuple[object, bool] = (None, False)
        self.account_pool = AccountPool(
            endpoint.provider,
            context.shared_state,
            strategy=endpoint.account_strategy,
            allow_overage=endpoint.allow_overage,
            # A previous_response_id finds its account as long as its conversation is kept.
            response_ttl_seconds=self.response_store.ttl_seconds,
        )
        # The stdlib side of context.logger: its level check is cached, so per-request
        # events below INFO/DEBUG cost nothing to skip.
        self._level_logger = logging.getLogger(plugin_logger_name(context.plugin_name))
        self.relay = UpstreamRelay(
            endpoint,
            context,
            remember=self._remember,
            complete=self._complete,
            report_error=self._emit_provider_error,
        )

    # --- extension points ------------------------------------------------------------------

    def auth_headers(self, token: str, source: TokenSource) -> dict[str, str]:
        """Headers that authenticate ``token`` upstream."""
        return {"authorization": f"Bearer {token}"}

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        """Last provider-specific edit of the upstream body (after the profile)."""
        return body

    def edit_upstream_request(self, request: UpstreamRequest, *, converted: bool) -> None:
        """Last provider-specific edit of the whole upstream request, in place: headers that
        depend on the body, the URL, ``tags`` for the record. Runs once per client request,
        after ``edit_upstream_body`` and the header profile, before ``PROVIDER_REQUEST_PREPARED``."""

    def upstream_base_url(self, source: TokenSource) -> str | None:
        """The base URL to send with ``source``'s credential instead of ``endpoint.base_url``;
        ``None`` keeps it. For upstreams that hand out an API host per account
        (``AccountInfo.api_base``). Called for every upstream call, so keep it cheap."""
        return None

    def explain_upstream_error(self, status_code: int, message: str, raw: bytes) -> str | None:
        """A clearer message for an upstream error (``message`` is the upstream's, ``raw`` its
        body); ``None`` keeps the upstream's. A message returned here is answered in the
        client's dialect with the upstream's status, never relayed as the raw body."""
        return None

    # --- the pipeline ----------------------------------------------------------------------

    async def describe_accounts(self) -> list[dict[str, Any]]:
        """This provider's accounts for ``GET /api/accounts``: name, state, cooldown, windows."""
        found = self._token_source()
        if found is None:
            return []
        if isinstance(found, AccountSet):
            return await self.account_pool.describe(found.accounts())
        return await self.account_pool.describe({DEFAULT_ACCOUNT: found})

    async def handle(
        self, request: Request, client_format: WireFormat, *, route: str | None = None
    ) -> Response:
        """Serve one client request of ``client_format``; ``route`` is its path template.

        Once the body is read, ``http.disconnect`` from ``request.receive`` means the client has
        gone and cancels the request: a ``Request`` built by hand must not report it before."""
        exchange = Exchange(
            request_id=request.headers.get("x-request-id") or f"req_{secrets.token_hex(12)}",
            route=route or request.url.path,
            client_format=client_format,
            started=time.perf_counter(),
        )
        hooks = self.context.hook_manager
        if hooks.has_subscribers(HookEvent.REQUEST_STARTED):
            await hooks.emit(
                RequestStarted(request_id=exchange.request_id, provider=self.endpoint.provider)
            )
        try:
            response = await self._handle(request, exchange)
        except ClientError as exc:
            # Expected failures (bad input, upstream errors, a client gone): the INFO
            # request_completed event reports them; no traceback.
            exchange.status_code, exchange.error_kind, exchange.error = (
                exc.status,
                exc.kind,
                exc.message,
            )
            self.context.logger.debug(
                "request_refused",
                request_id=exchange.request_id,
                route=exchange.route,
                status_code=exc.status,
                error_kind=exc.kind,
                error=exc.message,
            )
            response = self._error(
                client_format,
                exc.status,
                exc.message,
                error_type=exc.error_type,
                param=exc.param,
                headers=exc.headers,
            )
        except Exception as exc:
            self.context.logger.error(
                "pipeline_failed", request_id=exchange.request_id, error=repr(exc), exc_info=exc
            )
            exchange.status_code, exchange.error_kind = 500, "internal_error"
            exchange.error = str(exc) or None
            response = self._error(
                client_format, 500, f"Internal proxy error (request {exchange.request_id})."
            )
        if not isinstance(response, StreamingResponse):
            # Emitted right after the body is sent: hooks (metrics, ledger) stay off the
            # client's latency. A streamed answer completes when its relay ends.
            response.background = BackgroundTask(self._complete, exchange)
        response.headers.setdefault("x-request-id", exchange.request_id)
        tracer = self.context.request_tracer
        if tracer.enabled:
            json_body = (
                getattr(response, "body", None)
                if not isinstance(response, StreamingResponse)
                else None
            )
            await tracer.trace(
                exchange.request_id,
                "client_response",
                status_code=response.status_code,
                headers=dict(response.headers),
                body=json_body if isinstance(json_body, bytes) else None,
            )
        return response

    async def _handle(self, request: Request, exchange: Exchange) -> Response:
        """The stages in order: read, route, encode for the upstream, send, answer the client.

        Once the body is read, a client that disconnects cancels the rest: a request still
        waiting for an upstream connection is never sent, an answer being read is closed."""
        body, resolution = await self._read(request, exchange)
        watch = ClientWatch(request.receive)
        response: Response | None = None
        try:
            with watch.scope:
                response = await self._serve(request, exchange, body, resolution)
        finally:
            # Before a streaming response listens for the disconnect itself.
            watch.stop()
        if response is None:  # the watch cancelled the work
            raise ClientError(
                499,
                "The client disconnected before the answer was ready.",
                kind="client_disconnect",
            )
        return response

    async def _serve(
        self,
        request: Request,
        exchange: Exchange,
        body: dict[str, Any],
        resolution: AliasResolution,
    ) -> Response:
        history = (
            await self._previous_history(body) if exchange.client_format == "responses" else None
        )
        prepared = self._encode_for_upstream(request, body, resolution, exchange, history)
        exchange.tags = prepared.outgoing.tags
        debug = self._level_logger.isEnabledFor(logging.DEBUG)
        if debug:
            self._log_upstream_request(exchange, prepared)
        upstream = await self._send(prepared, exchange)
        try:
            return await self._respond(upstream, exchange, prepared, debug=debug)
        except BaseException:
            await _close(upstream)  # idempotent: most failures closed it already
            raise

    async def _respond(
        self, upstream: httpx.Response, exchange: Exchange, prepared: _Prepared, *, debug: bool
    ) -> Response:
        if debug:
            self.context.logger.debug(
                "upstream_response",
                request_id=exchange.request_id,
                status_code=upstream.status_code,
                ttfb_s=None if exchange.ttfb is None else round(exchange.ttfb, 6),
            )
        exchange.rate_limits = rate_limit_headers(upstream.headers)
        exchange.status_code = upstream.status_code
        if not exchange.pooled:  # the pool noted its account's windows itself
            self.account_pool.note_windows(DEFAULT_ACCOUNT, exchange.rate_limits)
        tracer = self.context.request_tracer
        if tracer.enabled:
            await tracer.trace(
                exchange.request_id,
                "upstream_response",
                status_code=upstream.status_code,
                headers=dict(upstream.headers),
            )
        if upstream.status_code >= 400:
            return await self._upstream_error(upstream, exchange, passthrough=prepared.passthrough)
        return await self._answer(upstream, exchange, prepared)

    # --- read and route ------------------------------------------------------------------------

    async def _read(
        self, request: Request, exchange: Exchange
    ) -> tuple[dict[str, Any], AliasResolution]:
        """The client's body, checked, and the upstream model its ``model`` resolves to."""
        body = await read_json(request)
        tracer = self.context.request_tracer
        if tracer.enabled:
            await tracer.trace(
                exchange.request_id,
                "client_request",
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                body=body,
            )
        passthrough = exchange.client_format == self.endpoint.upstream_format
        try:
            check_client_body(body, exchange.client_format, passthrough=passthrough)
        except InvalidRequestError as exc:
            raise ClientError(400, exc.message, kind="invalid_request", param=exc.param) from None
        client_model = body.get("model")
        if not isinstance(client_model, str) or not client_model:
            raise ClientError(
                400, "'model' is required and must be a string.", kind="invalid_request"
            )
        exchange.client_model = client_model
        try:
            resolution = self.endpoint.aliases.resolve(client_model)
        except UnknownModelError as exc:
            raise ClientError(400, str(exc), kind="unknown_model") from None
        exchange.upstream_model = resolution.upstream_model
        exchange.streaming = bool(body.get("stream"))
        return body, resolution

    # --- encode for the upstream -----------------------------------------------------------------

    def _encode_for_upstream(
        self,
        request: Request,
        body: dict[str, Any],
        resolution: AliasResolution,
        exchange: Exchange,
        history: list[dict[str, Any]] | None,
    ) -> _Prepared:
        """The upstream request: the body passed through with minimal edits, or converted through
        the IR; then the provider profile, the provider's own edit, headers and URL."""
        endpoint = self.endpoint
        passthrough = exchange.client_format == endpoint.upstream_format
        ir_request: IRRequest | None = None
        conv_key: str | None = None
        if passthrough:
            upstream_body, input_items = self._passthrough_body(
                body, resolution.upstream_model, history
            )
        else:
            upstream_body, input_items, ir_request, conv_key = self._converted_body(
                request, body, resolution.upstream_model, exchange, history
            )
        upstream_body = apply_body_profile(
            endpoint.profile,
            upstream_body,
            upstream_format=endpoint.upstream_format,
            converted=not passthrough,
        )
        upstream_body = self.edit_upstream_body(upstream_body, converted=not passthrough)
        headers = client_to_upstream_headers(request.headers.items())
        if not passthrough:
            headers = {
                k: v
                for k, v in headers.items()
                if not k.startswith(("openai-", "anthropic-", "x-stainless"))
            }
        headers["content-type"] = "application/json"
        apply_header_profile(endpoint.profile, headers, conversation_key=conv_key)
        url = endpoint.base_url.rstrip("/") + endpoint.path
        if passthrough and request.url.query:
            url = f"{url}?{request.url.query}"
        previous = body.get("previous_response_id")
        outgoing = UpstreamRequest("POST", url, headers, upstream_body)
        self.edit_upstream_request(outgoing, converted=not passthrough)
        return _Prepared(
            outgoing=outgoing,
            passthrough=passthrough,
            aliased=resolution.aliased,
            client_stream=exchange.streaming,
            ir_request=ir_request,
            client_input_items=input_items,
            affinity=conv_key or affinity_key(exchange.client_format, body, request.headers),
            previous_response_id=previous if isinstance(previous, str) and previous else None,
        )

    def _passthrough_body(
        self, body: dict[str, Any], upstream_model: str, history: list[dict[str, Any]] | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """The client's body with the upstream model (and, for Responses, its stored history);
        the client's full input items when the format has them."""
        upstream_body = dict(body)
        upstream_body["model"] = upstream_model
        if self.endpoint.upstream_format == "responses":
            return _expand_previous_response(upstream_body, history)
        return upstream_body, None

    def _converted_body(
        self,
        request: Request,
        body: dict[str, Any],
        upstream_model: str,
        exchange: Exchange,
        history: list[dict[str, Any]] | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | None, IRRequest, str]:
        """The body decoded into the IR and encoded for the upstream; also the client's input
        items, the IR request and the conversation key."""
        endpoint = self.endpoint
        input_items: list[dict[str, Any]] | None = None
        if exchange.client_format == "responses":
            body, input_items = _expand_previous_response(dict(body), history)
        try:
            ir_request = get_codec(exchange.client_format).decode_request(body)
        except InvalidRequestError as exc:
            raise ClientError(400, exc.message, kind="invalid_request", param=exc.param) from None
        ir_request.model = upstream_model
        # Fields the IR does not interpret belong to the client's format; they never cross.
        ir_request.extra = {}
        ir_request.stream = exchange.streaming or endpoint.stream_only
        conv_key = conversation_key(
            ir_request, request.headers, route=exchange.route, upstream_model=upstream_model
        )
        if ir_request.prompt_cache_key is None and endpoint.upstream_format == "responses":
            ir_request.prompt_cache_key = conv_key
        try:
            upstream_body = get_codec(endpoint.upstream_format).encode_request(ir_request)
        except InvalidRequestError as exc:
            raise ClientError(400, exc.message, kind="invalid_request", param=exc.param) from None
        return upstream_body, input_items, ir_request, conv_key

    def _log_upstream_request(self, exchange: Exchange, prepared: _Prepared) -> None:
        self.context.logger.debug(
            "upstream_request",
            request_id=exchange.request_id,
            route=exchange.route,
            mode="passthrough" if prepared.passthrough else "converted",
            client_format=exchange.client_format,
            upstream_format=self.endpoint.upstream_format,
            client_model=exchange.client_model,
            upstream_model=exchange.upstream_model,
            client_stream=prepared.client_stream,
            upstream_stream=bool(prepared.outgoing.body.get("stream")),
        )

    # --- answer the client -------------------------------------------------------------------------

    async def _answer(
        self, upstream: httpx.Response, exchange: Exchange, prepared: _Prepared
    ) -> Response:
        """Relay or convert a successful upstream answer: a stream for a streaming client, one
        JSON body otherwise (collected from the stream when the upstream streamed)."""
        relay = self.relay
        # Read after sending: a PROVIDER_REQUEST_PREPARED hook may have edited the body.
        upstream_stream = bool(prepared.outgoing.body.get("stream"))
        if not prepared.passthrough:
            await relay.refuse_unconvertible(upstream, exchange, streamed=upstream_stream)
        client_headers = self._client_headers(upstream, passthrough=prepared.passthrough)
        if upstream_stream and prepared.client_stream:
            if prepared.passthrough:
                return relay.stream_passthrough(
                    upstream,
                    exchange,
                    client_headers,
                    prepared.aliased,
                    prepared.client_input_items,
                )
            return relay.stream_converted(
                upstream,
                exchange,
                client_headers,
                prepared.client_input_items,
                client_request=prepared.ir_request,
            )
        if upstream_stream:
            ir_response = await relay.collect(upstream, exchange)
        elif prepared.passthrough:
            return await relay.passthrough_json(
                upstream,
                exchange,
                client_headers,
                prepared.aliased,
                prepared.client_input_items,
            )
        else:
            ir_response = await relay.read_response(upstream, exchange)
        exchange.usage = ir_response.usage
        client_body = get_codec(exchange.client_format).encode_response(
            ir_response, model=exchange.client_model or ""
        )
        await self._remember(exchange, prepared.client_input_items, client_body)
        exchange.completed = True
        return JSONResponse(client_body, status_code=200, headers=client_headers)

    # --- upstream I/O ----------------------------------------------------------------------

    async def _send(self, prepared: _Prepared, exchange: Exchange) -> httpx.Response:
        """The credentials and the send: the one token source, or the account the pool chooses."""
        found = self._token_source()
        if found is None:
            raise ClientError(
                401, self._login_message(), kind="no_credentials", error_type="authentication_error"
            )
        outgoing = prepared.outgoing
        if self._is_account_set(found):
            exchange.pooled = True
            return await self._send_from_pool(
                cast("AccountSet", found).accounts(), prepared, exchange
            )
        found = cast("TokenSource", found)
        token = await self._first_token(found)
        exchange.account = account_id(found)
        await self._emit_prepared(outgoing, exchange)
        return await self._send_authenticated(outgoing, token, found, exchange)

    def _is_account_set(self, found: object) -> bool:
        # isinstance against a runtime Protocol costs microseconds; the source rarely changes.
        cached = self._account_set_check
        if cached[0] is not found:
            cached = self._account_set_check = (found, isinstance(found, AccountSet))
        return cached[1]

    async def _send_from_pool(
        self, accounts: Mapping[str, TokenSource], prepared: _Prepared, exchange: Exchange
    ) -> httpx.Response:
        """Send with the chosen account. After a 429 (nothing has reached the client) the account
        cools down until its window resets and the request goes once more, to another ready
        account; an account whose credential fails is skipped as invalid."""
        pool = self.account_pool
        outgoing = prepared.outgoing
        tried: list[str] = []
        refused: httpx.Response | None = None
        unavailable: ClientError | None = None
        refusals = 0
        await self._emit_prepared(outgoing, exchange)
        for _ in range(len(accounts) + 1):
            try:
                choice = await pool.choose(
                    accounts,
                    affinity=prepared.affinity,
                    previous_response_id=prepared.previous_response_id,
                    exclude=tried,
                )
            except StateUnavailable as exc:
                raise ClientError(
                    503,
                    f"The shared account state could not be read: {exc}",
                    kind="state_unavailable",
                    headers={"retry-after": "1"},
                ) from None
            except AllAccountsCoolingDown as exc:
                if refused is not None:
                    return refused
                if unavailable is not None:
                    raise unavailable from None
                wait = max(1, math.ceil(exc.retry_after))
                raise ClientError(
                    429,
                    f"Every {self.endpoint.provider} account is cooling down until its usage "
                    f"window resets; try again in {wait} seconds.",
                    kind="accounts_cooling_down",
                    error_type="rate_limit_error",
                    headers={"retry-after": str(wait)},
                ) from None
            except NoUsableAccount:
                if refused is not None:
                    return refused
                if unavailable is not None:
                    raise unavailable from None
                raise ClientError(
                    401,
                    f"No usable {self.endpoint.provider} account. {self._login_message()}",
                    kind="no_credentials",
                    error_type="authentication_error",
                ) from None
            exchange.account = choice.name
            tried.append(choice.name)
            try:
                token = await self._first_token(choice.source)
                response = await self._send_authenticated(outgoing, token, choice.source, exchange)
            except ClientError as exc:
                if exc.kind == "credential_unavailable":
                    unavailable = exc
                    reason = "its credential could not be refreshed just now"
                    await pool.cool_down(choice.name, CREDENTIAL_RETRY_SECONDS, reason)
                    continue
                if exc.kind not in ("no_credentials", "auth_failed"):
                    raise
                pool.mark_invalid(choice.name, choice.source, exc.message)
                continue  # refused before any work: another account may serve it
            try:
                if response.status_code != 429:
                    await pool.observe(choice.name, response.headers)
                    return response
                raw = await read_bounded(response)
            except BaseException:
                await _close(response)
                if response.status_code == 429:
                    # The account refused, whether or not its body arrived (a client gone).
                    with contextlib.suppress(Exception):
                        await _cool_down_refused(pool, choice.name, response.headers, b"")
                raise
            await response.aclose()
            await _cool_down_refused(pool, choice.name, response.headers, raw)
            refused = httpx.Response(
                429, headers=response.headers, content=raw, request=response.request
            )
            refusals += 1
            if refusals >= 2:  # retried once already: the client gets the upstream's 429
                return refused
        raise ClientError(
            401,
            f"No usable {self.endpoint.provider} account. {self._login_message()}",
            kind="no_credentials",
            error_type="authentication_error",
        )

    async def _first_token(self, source: TokenSource) -> str:
        try:
            return await source.access_token()
        except Exception as exc:
            if isinstance(exc, _MayPass) and not exc.lasting:
                raise self._credential_unavailable() from None
            raise ClientError(
                401,
                f"{self._login_message()} ({type(exc).__name__})",
                kind="no_credentials",
                error_type="authentication_error",
            ) from None

    def _credential_unavailable(self) -> ClientError:
        """A refresh that failed for now (token endpoint unreachable or busy): 503, not 401."""
        wait = math.ceil(CREDENTIAL_RETRY_SECONDS)
        return ClientError(
            503,
            f"The {self.endpoint.provider} credential could not be refreshed just now (the token "
            f"endpoint did not answer); try again in {wait} seconds.",
            kind="credential_unavailable",
            error_type="api_error",
            headers={"retry-after": str(wait)},
        )

    async def _emit_prepared(self, outgoing: UpstreamRequest, exchange: Exchange) -> None:
        hooks = self.context.hook_manager
        if hooks.has_subscribers(HookEvent.PROVIDER_REQUEST_PREPARED):
            await hooks.emit(
                ProviderRequestPrepared(
                    request_id=exchange.request_id,
                    provider=self.endpoint.provider,
                    request=outgoing,
                )
            )

    async def _send_authenticated(
        self, outgoing: UpstreamRequest, token: str, source: TokenSource, exchange: Exchange
    ) -> httpx.Response:
        """Send; after a 401, refresh the credential once and send again (as designed)."""
        for attempt in (1, 2):
            response = await self._send_once(outgoing, token, source, exchange)
            if response.status_code != 401 or attempt == 2:
                return response
            await response.aclose()
            try:
                token = await source.refresh(token)
            except Exception as exc:
                if isinstance(exc, _MayPass) and not exc.lasting:
                    raise self._credential_unavailable() from None
                await self.context.hook_manager.emit(
                    AuthFailed(
                        provider=self.endpoint.provider,
                        error=f"refresh failed: {type(exc).__name__}",
                        request_id=exchange.request_id,
                    )
                )
                raise ClientError(
                    401,
                    f"The upstream rejected the credential and refreshing it failed. {self._login_message()}",
                    kind="auth_failed",
                    error_type="authentication_error",
                ) from None
        raise AssertionError("unreachable")

    async def _send_once(
        self, outgoing: UpstreamRequest, token: str, source: TokenSource, exchange: Exchange
    ) -> httpx.Response:
        headers = {**outgoing.headers, **self.auth_headers(token, source)}
        content = json.dumps(outgoing.body, ensure_ascii=False, separators=(",", ":")).encode()
        url = self._credential_url(outgoing.url, source)
        client = self.context.http_client
        tracer = self.context.request_tracer
        if tracer.enabled:
            built = client.build_request(outgoing.method, url, headers=headers, content=content)
            await tracer.trace(
                exchange.request_id,
                "upstream_request",
                method=outgoing.method,
                url=url,
                headers=dict(built.headers),
                body=content,
            )
        try:
            response = await send_upstream(
                client, outgoing.method, self._parsed_url(url), headers, content
            )
        except httpx.PoolTimeout:
            # Every upstream connection stayed busy for http.pool_timeout_seconds. Nothing was
            # sent, so the client may safely try again.
            await self._emit_provider_error(exchange, "overloaded: PoolTimeout")
            raise ClientError(
                503,
                "The proxy has no free upstream connection (http.max_connections); try again.",
                kind="upstream_pool_full",
                headers={"retry-after": "1"},
            ) from None
        except httpx.TimeoutException as exc:
            await self._emit_provider_error(exchange, f"timeout: {type(exc).__name__}")
            raise ClientError(
                504, "The upstream did not answer in time.", kind="upstream_timeout"
            ) from None
        except httpx.TransportError as exc:
            await self._emit_provider_error(exchange, f"unreachable: {type(exc).__name__}")
            raise ClientError(
                502,
                f"The upstream could not be reached ({type(exc).__name__}).",
                kind="upstream_unreachable",
            ) from None
        exchange.ttfb = time.perf_counter() - exchange.started
        try:
            await self._emit_sent(outgoing, url, response, exchange)
        except BaseException:
            await _close(response)
            raise
        return response

    async def _emit_sent(
        self, outgoing: UpstreamRequest, url: str, response: httpx.Response, exchange: Exchange
    ) -> None:
        hooks = self.context.hook_manager
        if hooks.has_subscribers(HookEvent.PROVIDER_REQUEST_SENT):
            await hooks.emit(
                ProviderRequestSent(
                    request_id=exchange.request_id,
                    provider=self.endpoint.provider,
                    request=UpstreamRequest(
                        outgoing.method,
                        url,
                        dict(MappingProxyType(outgoing.headers)),
                        outgoing.body,
                        dict(outgoing.tags),
                    ),
                )
            )
        if hooks.has_subscribers(HookEvent.PROVIDER_RESPONSE_RECEIVED):
            await hooks.emit(
                ProviderResponseReceived(
                    request_id=exchange.request_id,
                    provider=self.endpoint.provider,
                    status_code=response.status_code,
                    headers=dict(response.headers),
                )
            )

    def _credential_url(self, url: str, source: TokenSource) -> str:
        """``url`` on the base URL ``upstream_base_url`` gives for ``source`` (when it gives one
        and ``url`` still starts with the endpoint's base URL)."""
        base = self.upstream_base_url(source)
        configured = self.endpoint.base_url.rstrip("/")
        if base is None or not url.startswith(configured):
            return url
        return base.rstrip("/") + url[len(configured) :]

    def _parsed_url(self, url: str) -> httpx.URL:
        # Parsing is a visible share of the hot path, and the URL rarely changes between requests.
        cached = self._last_url
        if cached is None or cached[0] != url:
            cached = self._last_url = (url, httpx.URL(url))
        return cached[1]

    async def _emit_provider_error(
        self, exchange: Exchange, error: str, status_code: int | None = None
    ) -> None:
        hooks = self.context.hook_manager
        if hooks.has_subscribers(HookEvent.PROVIDER_ERROR):
            await hooks.emit(
                ProviderError(
                    request_id=exchange.request_id,
                    provider=self.endpoint.provider,
                    error=error,
                    status_code=status_code,
                )
            )

    async def _upstream_error(
        self, upstream: httpx.Response, exchange: Exchange, *, passthrough: bool
    ) -> Response:
        try:
            raw = await read_bounded(upstream)
        except httpx.HTTPError:
            raw = b""  # the status says enough
        finally:
            await upstream.aclose()
        message, error_type = upstream_error_details(raw, upstream.status_code)
        explained = self.explain_upstream_error(upstream.status_code, message, raw)
        if explained is not None:
            message = explained
        exchange.error_kind = f"upstream_{upstream.status_code}"
        exchange.error = message
        await self._emit_provider_error(exchange, message, upstream.status_code)
        kept = {k: v for k, v in upstream.headers.items() if k.lower() in _KEEP_ON_CONVERTED}
        kept.update(exchange.rate_limits)
        if (
            explained is None
            and passthrough
            and is_dialect_error(raw, _dialect(exchange.client_format))
        ):
            return Response(
                raw, status_code=upstream.status_code, headers=kept, media_type="application/json"
            )
        return self._error(
            exchange.client_format,
            upstream.status_code,
            message,
            error_type=error_type,
            headers=kept,
        )

    # --- responses -------------------------------------------------------------------------

    def _client_headers(self, upstream: httpx.Response, *, passthrough: bool) -> dict[str, str]:
        if passthrough:
            return upstream_to_client_headers(upstream.headers.items())
        kept = {
            k.lower(): v for k, v in upstream.headers.items() if k.lower() in _KEEP_ON_CONVERTED
        }
        kept.update(rate_limit_headers(upstream.headers))
        return kept

    # --- previous_response_id ----------------------------------------------------------------

    async def _previous_history(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The stored conversation ``previous_response_id`` names (None without one)."""
        previous = body.get("previous_response_id")
        if not previous:
            return None
        try:
            history = await self.response_store.history(str(previous))
        except StateUnavailable as exc:
            raise ClientError(
                503,
                f"The conversation of previous_response_id could not be read: {exc}",
                kind="state_unavailable",
                headers={"retry-after": "1"},
            ) from None
        if history is None:
            raise ClientError(
                400,
                f"Previous response with id '{previous}' not found.",
                kind="invalid_request",
                param="previous_response_id",
            )
        return history

    async def _remember(
        self,
        exchange: Exchange,
        input_items: list[dict[str, Any]] | None,
        response_body: dict[str, Any],
    ) -> None:
        if input_items is None or exchange.client_format != "responses":
            return
        response_id = response_body.get("id")
        output = response_body.get("output")
        if isinstance(response_id, str) and isinstance(output, list):
            try:
                await self.response_store.put(
                    response_id, input_items, [o for o in output if isinstance(o, dict)]
                )
                if exchange.pooled and exchange.account is not None:
                    await self.account_pool.remember_response(response_id, exchange.account)
            except StateUnavailable as exc:
                # The answer is already the client's; only chaining on it will fail.
                self.context.logger.warning(
                    "response_not_stored", request_id=exchange.request_id, error=str(exc)
                )

    # --- completion ----------------------------------------------------------------------------

    async def _complete(self, exchange: Exchange) -> None:
        record = RequestRecord(
            request_id=exchange.request_id,
            provider=self.endpoint.provider,
            route=exchange.route,
            client_format=exchange.client_format,
            upstream_format=self.endpoint.upstream_format,
            client_model=exchange.client_model,
            upstream_model=exchange.upstream_model,
            streaming=exchange.streaming,
            status_code=exchange.status_code,
            error_kind=exchange.error_kind,
            duration_s=time.perf_counter() - exchange.started,
            ttfb_s=exchange.ttfb,
            usage=exchange.usage,
            rate_limits=exchange.rate_limits,
            account=exchange.account,
            tags=dict(exchange.tags),
        )
        hooks = self.context.hook_manager
        with anyio.CancelScope(shield=True):
            await hooks.emit(
                RequestCompleted(
                    request_id=exchange.request_id, provider=self.endpoint.provider, record=record
                )
            )
            if exchange.error_kind is not None:
                await hooks.emit(
                    RequestFailed(
                        request_id=exchange.request_id,
                        provider=self.endpoint.provider,
                        record=record,
                        error=exchange.error_kind if exchange.error is None else exchange.error,
                    )
                )
        if self._level_logger.isEnabledFor(logging.INFO):
            self.context.logger.info("request_completed", **record.to_log())

    def _error(
        self,
        client_format: WireFormat,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        return error_response(
            _dialect(client_format),
            status,
            message,
            error_type=error_type,
            param=param,
            headers=dict(headers or {}),
        )

    def _login_message(self) -> str:
        return self.endpoint.login_hint or f"No credentials for {self.endpoint.provider!r}."


async def _cool_down_refused(
    pool: AccountPool, name: str, headers: Mapping[str, str], body: bytes
) -> None:
    """Rest an account that answered 429, also while the request is being cancelled: the
    refusal was spent on it, and the next request must not ask the same account again."""
    seconds = cooldown_seconds(headers, body)
    with anyio.CancelScope(shield=True):
        await pool.cool_down(name, seconds, f"429 from the upstream ({seconds:.0f}s)")


async def _close(upstream: httpx.Response) -> None:
    """Close ``upstream`` even while the request is being cancelled (a client gone)."""
    with anyio.CancelScope(shield=True):
        await upstream.aclose()


def _dialect(client_format: WireFormat) -> Dialect:
    return Dialect.ANTHROPIC if client_format == "anthropic" else Dialect.OPENAI


def _expand_previous_response(
    body: dict[str, Any], history: list[dict[str, Any]] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Replace ``previous_response_id`` with its stored ``history``; return the client's full
    input (the Codex backend takes only a list of items)."""
    current = input_items(body.get("input"))
    if history is None:
        if "input" in body:
            body = {**body, "input": current}
        return body, current
    expanded = [*history, *current]
    body = {k: v for k, v in body.items() if k != "previous_response_id"}
    body["input"] = expanded
    return body, expanded
