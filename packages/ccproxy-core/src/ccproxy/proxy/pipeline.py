"""The request pipeline every provider route runs (DESIGN §4).

``ProviderAdapter.handle`` parses the client's body leniently, resolves the model alias, takes the
passthrough branch when client and upstream speak the same format (minimal edits, bytes relayed)
or converts through the IR otherwise, applies the provider profile, authenticates with the
provider's ``TokenSource`` (refreshing once on a 401), and answers errors in the client's dialect.
Exactly one ``REQUEST_COMPLETED`` is emitted per request.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ccproxy.llm.codec import get_codec
from ccproxy.llm.collect import ResponseCollector, UpstreamStreamError
from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.ir import Response as IRResponse
from ccproxy.llm.ir import ResponseStart, StreamError, StreamEvent, Usage, WireFormat
from ccproxy.llm.sse import SSEParser
from ccproxy.plugins.hooks import HookEvent
from ccproxy.proxy.aliases import ModelAliases, UnknownModelError
from ccproxy.proxy.conversation import conversation_key
from ccproxy.proxy.dialect import Dialect
from ccproxy.proxy.errors import error_response
from ccproxy.proxy.headers import (
    client_to_upstream_headers,
    rate_limit_headers,
    upstream_to_client_headers,
)
from ccproxy.proxy.passthrough import ModelRewriter, StreamObserver, stream_error_event
from ccproxy.proxy.profile import ProviderProfile, apply_body_profile, apply_header_profile
from ccproxy.proxy.record import RequestRecord
from ccproxy.proxy.response_store import ResponseStore
from ccproxy.proxy.upstream_errors import upstream_error_details

if TYPE_CHECKING:
    from ccproxy.plugins.context import PluginContext
    from ccproxy.services import TokenSource

__all__ = ["NoCredentialsError", "ProviderAdapter", "ProviderEndpoint", "UpstreamRequest"]

_KEEP_ON_CONVERTED = ("retry-after", "request-id", "x-request-id")
_MAX_ERROR_BODY = 1024 * 1024


class NoCredentialsError(RuntimeError):
    """The provider has no usable credential; answered with 401 telling the user how to log in."""


@dataclass
class UpstreamRequest:
    """The request about to go upstream; hooks may edit it in ``PROVIDER_REQUEST_PREPARED`` only."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


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


@dataclass
class _Exchange:
    """What the pipeline learns about one request while handling it."""

    request_id: str
    route: str
    client_format: WireFormat
    started: float
    client_model: str | None = None
    upstream_model: str | None = None
    streaming: bool = False
    status_code: int = 0
    error_kind: str | None = None
    ttfb: float | None = None
    usage: Usage = field(default_factory=Usage)
    rate_limits: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    error: BaseException | str | None = None
    completed: bool = False


class ProviderAdapter:
    """Runs the pipeline for one provider. Subclass to add provider-specific edits."""

    def __init__(
        self,
        endpoint: ProviderEndpoint,
        context: PluginContext,
        *,
        token_source: Callable[[], TokenSource | None],
        response_store: ResponseStore | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self._token_source = token_source
        self.response_store = response_store if response_store is not None else ResponseStore()

    # --- extension points ------------------------------------------------------------------

    def auth_headers(self, token: str, source: TokenSource) -> dict[str, str]:
        """Headers that authenticate ``token`` upstream."""
        return {"authorization": f"Bearer {token}"}

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        """Last provider-specific edit of the upstream body (after the profile)."""
        return body

    # --- the pipeline ----------------------------------------------------------------------

    async def handle(
        self, request: Request, client_format: WireFormat, *, route: str | None = None
    ) -> Response:
        """Serve one client request of ``client_format``; ``route`` is its path template."""
        exchange = _Exchange(
            request_id=request.headers.get("x-request-id") or f"req_{secrets.token_hex(12)}",
            route=route or request.url.path,
            client_format=client_format,
            started=time.perf_counter(),
        )
        hooks = self.context.hook_manager
        await hooks.emit(
            HookEvent.REQUEST_STARTED, request_id=exchange.request_id, plugin=self.endpoint.provider
        )
        try:
            response = await self._handle(request, exchange)
        except _ClientError as exc:
            exchange.status_code, exchange.error_kind, exchange.error = (
                exc.status,
                exc.kind,
                exc.message,
            )
            response = self._error(
                client_format,
                exc.status,
                exc.message,
                error_type=exc.error_type,
                headers=exc.headers,
            )
        except Exception as exc:
            self.context.logger.error(
                "pipeline_failed", request_id=exchange.request_id, error=repr(exc), exc_info=exc
            )
            exchange.status_code, exchange.error_kind, exchange.error = 500, "internal_error", exc
            response = self._error(
                client_format, 500, f"Internal proxy error (request {exchange.request_id})."
            )
        if not isinstance(response, StreamingResponse):
            await self._complete(exchange)
        response.headers.setdefault("x-request-id", exchange.request_id)
        return response

    async def _handle(self, request: Request, exchange: _Exchange) -> Response:
        endpoint = self.endpoint
        body = await _read_json(request)
        client_model = body.get("model")
        if not isinstance(client_model, str) or not client_model:
            raise _ClientError(
                400, "'model' is required and must be a string.", kind="invalid_request"
            )
        exchange.client_model = client_model
        try:
            resolution = endpoint.aliases.resolve(client_model)
        except UnknownModelError as exc:
            raise _ClientError(400, str(exc), kind="unknown_model") from None
        exchange.upstream_model = resolution.upstream_model
        client_stream = bool(body.get("stream"))
        exchange.streaming = client_stream
        passthrough = exchange.client_format == endpoint.upstream_format
        client_input_items: list[dict[str, Any]] | None = None

        if passthrough:
            upstream_body = dict(body)
            upstream_body["model"] = resolution.upstream_model
            if endpoint.upstream_format == "responses":
                upstream_body, client_input_items = self._expand_previous_response(upstream_body)
            conv_key = None
        else:
            if exchange.client_format == "responses":
                body, client_input_items = self._expand_previous_response(dict(body))
            try:
                ir_request = get_codec(exchange.client_format).decode_request(body)
            except InvalidRequestError as exc:
                raise _ClientError(
                    400, exc.message, kind="invalid_request", param=exc.param
                ) from None
            ir_request.model = resolution.upstream_model
            # Fields the IR does not interpret belong to the client's format; they never cross.
            ir_request.extra = {}
            ir_request.stream = client_stream or endpoint.stream_only
            conv_key = conversation_key(
                ir_request,
                request.headers,
                route=exchange.route,
                upstream_model=resolution.upstream_model,
            )
            if ir_request.prompt_cache_key is None and endpoint.upstream_format == "responses":
                ir_request.prompt_cache_key = conv_key
            try:
                upstream_body = get_codec(endpoint.upstream_format).encode_request(ir_request)
            except InvalidRequestError as exc:
                raise _ClientError(
                    400, exc.message, kind="invalid_request", param=exc.param
                ) from None

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

        upstream = await self._send(UpstreamRequest("POST", url, headers, upstream_body), exchange)
        upstream_stream = bool(upstream_body.get("stream"))
        exchange.rate_limits = rate_limit_headers(upstream.headers)
        exchange.status_code = upstream.status_code
        if upstream.status_code >= 400:
            return await self._upstream_error(upstream, exchange, passthrough=passthrough)

        client_headers = self._client_headers(upstream, passthrough=passthrough)
        if passthrough and upstream_stream and client_stream:
            return self._relay_passthrough(
                upstream, exchange, client_headers, resolution.aliased, client_input_items
            )
        if upstream_stream and client_stream:
            return self._relay_converted(upstream, exchange, client_headers, client_input_items)
        if upstream_stream:
            ir_response = await self._collect(upstream, exchange)
        elif passthrough:
            return await self._passthrough_json(
                upstream, exchange, client_headers, resolution.aliased
            )
        else:
            ir_response = await self._read_response(upstream, exchange)
        exchange.usage = ir_response.usage
        client_body = get_codec(exchange.client_format).encode_response(
            ir_response, model=client_model
        )
        self._remember(exchange, client_input_items, client_body)
        exchange.completed = True
        return JSONResponse(client_body, status_code=200, headers=client_headers)

    # --- upstream I/O ----------------------------------------------------------------------

    async def _send(self, outgoing: UpstreamRequest, exchange: _Exchange) -> httpx.Response:
        hooks = self.context.hook_manager
        source = self._token_source()
        if source is None:
            raise _ClientError(
                401, self._login_message(), kind="no_credentials", error_type="authentication_error"
            )
        try:
            token = await source.access_token()
        except Exception as exc:
            raise _ClientError(
                401,
                f"{self._login_message()} ({type(exc).__name__})",
                kind="no_credentials",
                error_type="authentication_error",
            ) from None
        exchange.account = _account_id(source)
        await hooks.emit(
            HookEvent.PROVIDER_REQUEST_PREPARED,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            request=outgoing,
        )
        for attempt in (1, 2):
            response = await self._send_once(outgoing, token, source, exchange)
            if response.status_code != 401 or attempt == 2:
                return response
            await response.aclose()
            try:
                new_token = await source.refresh(token)
            except Exception as exc:
                await hooks.emit(
                    HookEvent.AUTH_FAILED,
                    request_id=exchange.request_id,
                    plugin=self.endpoint.provider,
                    error=f"refresh failed: {type(exc).__name__}",
                )
                raise _ClientError(
                    401,
                    f"The upstream rejected the credential and refreshing it failed. {self._login_message()}",
                    kind="auth_failed",
                    error_type="authentication_error",
                ) from None
            token = new_token
        raise AssertionError("unreachable")

    async def _send_once(
        self, outgoing: UpstreamRequest, token: str, source: TokenSource, exchange: _Exchange
    ) -> httpx.Response:
        headers = {**outgoing.headers, **self.auth_headers(token, source)}
        content = json.dumps(outgoing.body, ensure_ascii=False, separators=(",", ":")).encode()
        client = self.context.http_client
        built = client.build_request(
            outgoing.method, outgoing.url, headers=headers, content=content
        )
        tracer = self.context.request_tracer
        if tracer.enabled:
            await tracer.trace(
                exchange.request_id,
                "upstream_request",
                method=outgoing.method,
                url=outgoing.url,
                headers=dict(built.headers),
                body=content,
            )
        try:
            response = await client.send(built, stream=True)
        except httpx.TimeoutException as exc:
            await self._emit_provider_error(exchange, f"timeout: {type(exc).__name__}")
            raise _ClientError(
                504, "The upstream did not answer in time.", kind="upstream_timeout"
            ) from None
        except httpx.TransportError as exc:
            await self._emit_provider_error(exchange, f"unreachable: {type(exc).__name__}")
            raise _ClientError(
                502,
                f"The upstream could not be reached ({type(exc).__name__}).",
                kind="upstream_unreachable",
            ) from None
        exchange.ttfb = time.perf_counter() - exchange.started
        hooks = self.context.hook_manager
        await hooks.emit(
            HookEvent.PROVIDER_REQUEST_SENT,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            request=UpstreamRequest(
                outgoing.method,
                outgoing.url,
                dict(MappingProxyType(outgoing.headers)),
                outgoing.body,
            ),
        )
        await hooks.emit(
            HookEvent.PROVIDER_RESPONSE_RECEIVED,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            response={"status_code": response.status_code, "headers": dict(response.headers)},
        )
        return response

    async def _emit_provider_error(
        self, exchange: _Exchange, error: str, response: Any = None
    ) -> None:
        await self.context.hook_manager.emit(
            HookEvent.PROVIDER_ERROR,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            error=error,
            response=response,
        )

    async def _upstream_error(
        self, upstream: httpx.Response, exchange: _Exchange, *, passthrough: bool
    ) -> Response:
        try:
            raw = await _read_bounded(upstream)
        finally:
            await upstream.aclose()
        message, error_type = upstream_error_details(raw, upstream.status_code)
        exchange.error_kind = f"upstream_{upstream.status_code}"
        exchange.error = message
        await self._emit_provider_error(
            exchange,
            message,
            {"status_code": upstream.status_code, "headers": dict(upstream.headers)},
        )
        kept = {k: v for k, v in upstream.headers.items() if k.lower() in _KEEP_ON_CONVERTED}
        kept.update(exchange.rate_limits)
        if passthrough and raw.strip().startswith(b"{"):
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

    def _relay_passthrough(
        self,
        upstream: httpx.Response,
        exchange: _Exchange,
        headers: dict[str, str],
        aliased: bool,
        client_input_items: list[dict[str, Any]] | None,
    ) -> StreamingResponse:
        observer = StreamObserver(self.endpoint.upstream_format)
        rewriter = (
            ModelRewriter(self.endpoint.upstream_format, exchange.client_model or "")
            if aliased
            else None
        )

        async def body() -> AsyncIterator[bytes]:
            failure: str | None = None
            try:
                async for chunk in upstream.aiter_raw():
                    observer.feed(chunk)
                    if rewriter is None:
                        yield chunk
                    else:
                        out = rewriter.feed(chunk)
                        if out:
                            yield out
            except httpx.HTTPError as exc:
                failure = f"upstream connection failed mid-stream ({type(exc).__name__})"
            if rewriter is not None:
                tail = rewriter.close()
                if tail:
                    yield tail
            observer.close()
            if failure is None and not observer.completed and observer.error is None:
                failure = "upstream stream ended before completion"
            if failure is not None:
                # The client must not see a stream that looks complete.
                exchange.error_kind, exchange.error = "upstream_stream_error", failure
                yield stream_error_event(self.endpoint.upstream_format, failure)

        async def on_complete(error: BaseException | None) -> None:
            exchange.usage = observer.usage
            if error is not None or observer.error is not None or not observer.completed:
                exchange.error_kind = exchange.error_kind or (
                    "client_disconnect" if error else "upstream_stream_error"
                )
                exchange.error = error or str(observer.error or "stream ended before completion")
            else:
                exchange.completed = True
                if observer.response is not None:
                    self._remember(exchange, client_input_items, observer.response)
            await self._complete(exchange)

        return self.context.streaming_handler.relay(
            upstream,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            headers=headers,
            media_type="text/event-stream",
            body=body(),
            on_complete=on_complete,
        )

    def _relay_converted(
        self,
        upstream: httpx.Response,
        exchange: _Exchange,
        headers: dict[str, str],
        client_input_items: list[dict[str, Any]] | None,
    ) -> StreamingResponse:
        decoder = get_codec(self.endpoint.upstream_format).stream_decoder()
        client_codec = get_codec(exchange.client_format)
        encoder = client_codec.stream_encoder(model=exchange.client_model or "")
        collector = ResponseCollector()
        parser = SSEParser()
        response_id = _client_response_id(exchange.client_format)

        def convert(events: list[StreamEvent]) -> bytes:
            out: list[bytes] = []
            for event in events:
                if isinstance(event, ResponseStart) and response_id is not None:
                    event = replace(event, id=response_id)
                collector.feed(event)
                if isinstance(event, StreamError):
                    exchange.error_kind = "upstream_stream_error"
                    exchange.error = event.message
                out.append(encoder.encode(event))
            return b"".join(out)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    events: list[StreamEvent] = []
                    for sse in parser.feed(chunk):
                        events.extend(decoder.feed(sse))
                    out = convert(events)
                    if out:
                        yield out
            except httpx.HTTPError:
                pass  # the decoder reports the incomplete stream below
            events = []
            for sse in parser.close():
                events.extend(decoder.feed(sse))
            events.extend(decoder.close())
            out = convert(events) + encoder.close()
            if out:
                yield out

        async def on_complete(error: BaseException | None) -> None:
            try:
                result = collector.response()
            except UpstreamStreamError:
                result = None
            if result is not None:
                exchange.usage = result.usage
            if error is not None:
                exchange.error_kind = exchange.error_kind or "client_disconnect"
                exchange.error = error
            elif result is not None and exchange.error_kind is None:
                exchange.completed = True
                if exchange.client_format == "responses":
                    self._remember(
                        exchange,
                        client_input_items,
                        client_codec.encode_response(result, model=exchange.client_model or ""),
                    )
            await self._complete(exchange)

        return self.context.streaming_handler.relay(
            upstream,
            request_id=exchange.request_id,
            plugin=self.endpoint.provider,
            headers=headers,
            media_type="text/event-stream",
            body=body(),
            on_complete=on_complete,
        )

    async def _collect(self, upstream: httpx.Response, exchange: _Exchange) -> IRResponse:
        decoder = get_codec(self.endpoint.upstream_format).stream_decoder()
        collector = ResponseCollector()
        parser = SSEParser()
        try:
            async for chunk in upstream.aiter_raw():
                for sse in parser.feed(chunk):
                    for event in decoder.feed(sse):
                        collector.feed(event)
            for sse in parser.close():
                for event in decoder.feed(sse):
                    collector.feed(event)
            for event in decoder.close():
                collector.feed(event)
        finally:
            await upstream.aclose()
        try:
            result = collector.response()
        except UpstreamStreamError as exc:
            exchange.error_kind = "upstream_stream_error"
            raise _ClientError(
                exc.error.status_code or 502,
                f"Upstream stream failed: {exc.error.message}",
                kind="upstream_stream_error",
                error_type=_dialect_type(exc.error.type),
            ) from None
        response_id = _client_response_id(exchange.client_format)
        if response_id is not None:
            result.id = response_id
        return result

    async def _read_response(self, upstream: httpx.Response, exchange: _Exchange) -> IRResponse:
        try:
            raw = await upstream.aread()
        finally:
            await upstream.aclose()
        try:
            payload = json.loads(raw)
        except ValueError:
            raise _ClientError(
                502, "The upstream answered with invalid JSON.", kind="upstream_invalid"
            ) from None
        result = get_codec(self.endpoint.upstream_format).decode_response(payload)
        response_id = _client_response_id(exchange.client_format)
        if response_id is not None:
            result.id = response_id
        return result

    async def _passthrough_json(
        self, upstream: httpx.Response, exchange: _Exchange, headers: dict[str, str], aliased: bool
    ) -> Response:
        try:
            raw = await upstream.aread()
        finally:
            await upstream.aclose()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            try:
                exchange.usage = (
                    get_codec(self.endpoint.upstream_format).decode_response(payload).usage
                )
            except Exception:  # usage is informational; the body goes back regardless
                exchange.usage = Usage()
            if aliased and "model" in payload:
                payload["model"] = exchange.client_model
                raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        exchange.completed = True
        return Response(
            raw, status_code=upstream.status_code, headers=headers, media_type="application/json"
        )

    # --- previous_response_id ----------------------------------------------------------------

    def _expand_previous_response(
        self, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Replace ``previous_response_id`` with the stored history; return the client's full input."""
        current = _input_items(body.get("input"))
        previous = body.get("previous_response_id")
        if not previous:
            if "input" in body:
                body = {**body, "input": current}  # the Codex backend takes only a list of items
            return body, current
        history = self.response_store.history(str(previous))
        if history is None:
            raise _ClientError(
                400,
                f"Previous response with id '{previous}' not found.",
                kind="invalid_request",
                param="previous_response_id",
            )
        expanded = [*history, *current]
        body = {k: v for k, v in body.items() if k != "previous_response_id"}
        body["input"] = expanded
        return body, expanded

    def _remember(
        self,
        exchange: _Exchange,
        input_items: list[dict[str, Any]] | None,
        response_body: dict[str, Any],
    ) -> None:
        if input_items is None or exchange.client_format != "responses":
            return
        response_id = response_body.get("id")
        output = response_body.get("output")
        if isinstance(response_id, str) and isinstance(output, list):
            self.response_store.put(
                response_id, input_items, [o for o in output if isinstance(o, dict)]
            )

    # --- completion ----------------------------------------------------------------------------

    async def _complete(self, exchange: _Exchange) -> None:
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
        )
        hooks = self.context.hook_manager
        with anyio.CancelScope(shield=True):
            await hooks.emit(
                HookEvent.REQUEST_COMPLETED,
                request_id=exchange.request_id,
                plugin=self.endpoint.provider,
                record=record,
            )
            if exchange.error_kind is not None:
                await hooks.emit(
                    HookEvent.REQUEST_FAILED,
                    request_id=exchange.request_id,
                    plugin=self.endpoint.provider,
                    record=record,
                    error=exchange.error if exchange.error is not None else exchange.error_kind,
                )
        self.context.logger.info("request_completed", **record.to_log())

    def _error(
        self,
        client_format: WireFormat,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        dialect = Dialect.ANTHROPIC if client_format == "anthropic" else Dialect.OPENAI
        return error_response(
            dialect, status, message, error_type=error_type, headers=dict(headers or {})
        )

    def _login_message(self) -> str:
        return self.endpoint.login_hint or f"No credentials for {self.endpoint.provider!r}."


class _ClientError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str,
        error_type: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message if param is None else f"{message} (param: {param})"
        self.kind = kind
        self.error_type = error_type
        self.headers = headers


async def _read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise _ClientError(
            400, "The request body is empty; expected a JSON object.", kind="invalid_request"
        )
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _ClientError(
            400,
            f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.",
            kind="invalid_request",
        ) from None
    if not isinstance(body, dict):
        raise _ClientError(400, "The request body must be a JSON object.", kind="invalid_request")
    return body


async def _read_bounded(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:_MAX_ERROR_BODY]


def _account_id(source: Any) -> str | None:
    try:
        return source.account().id  # type: ignore[no-any-return]
    except Exception:
        return None


def _input_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}
        ]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    raise _ClientError(
        400, "'input' must be a string or a list of items.", kind="invalid_request", param="input"
    )


def _client_response_id(client_format: WireFormat) -> str | None:
    if client_format == "responses":
        return f"resp_{secrets.token_hex(24)}"
    if client_format == "anthropic":
        return f"msg_{secrets.token_hex(12)}"
    return f"chatcmpl-{secrets.token_hex(12)}"


def _dialect_type(stream_error_type: str) -> str | None:
    return stream_error_type or None
