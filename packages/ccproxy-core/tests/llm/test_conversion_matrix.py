"""The conversion matrix: every direction × request/response/stream × feature, one test per cell.

``docs/conversion-matrix.md`` is generated from ``CELLS`` (``scripts/conversion_matrix.py``) and
a test keeps it current; a cell without a test shows as empty there.
"""

from __future__ import annotations

import random

import pytest
from conversion_cases import DIRECTIONS, REQUEST_CASES, RESPONSE_CASES, response_events
from sdk_clients import parse

from ccproxy.llm import ir
from ccproxy.llm.codec import get_codec
from ccproxy.llm.sse import SSEParser

STREAM_FEATURES = [*RESPONSE_CASES, "mid_stream_error"]

#: (client format, upstream format, kind, feature) for every cell of the matrix.
CELLS: list[tuple[str, str, str, str]] = (
    [(a, b, "request", f) for a, b in DIRECTIONS for f in REQUEST_CASES]
    + [(a, b, "response", f) for a, b in DIRECTIONS for f in RESPONSE_CASES]
    + [(a, b, "stream", f) for a, b in DIRECTIONS for f in STREAM_FEATURES]
)


def cell_id(cell: tuple[str, str, str, str]) -> str:
    client, upstream, kind, feature = cell
    return f"{client}->{upstream}-{kind}-{feature}"


def _cells(kind: str) -> list[tuple[str, str, str]]:
    return [(c, u, f) for c, u, k, f in CELLS if k == kind]


@pytest.mark.parametrize(("client", "upstream", "feature"), _cells("request"), ids=lambda v: str(v))
def test_request(client: ir.WireFormat, upstream: ir.WireFormat, feature: str) -> None:
    case = REQUEST_CASES[feature]
    client_body = case.client_bodies.get(client) or get_codec(client).encode_request(case.request)
    decoded = get_codec(client).decode_request(client_body)
    decoded.model = "upstream-model"
    decoded.extra = {}  # as the pipeline does: source-format fields never cross formats
    upstream_body = get_codec(upstream).encode_request(decoded)
    seen_by_upstream = get_codec(upstream).decode_request(upstream_body)
    case.check(seen_by_upstream, upstream_body, upstream, client)


def _check_outcome(feature: str, client: ir.WireFormat, outcome: object) -> None:
    case = RESPONSE_CASES[feature]
    assert outcome.text == case.expected_text  # type: ignore[attr-defined]
    assert outcome.tools == case.expected_tools  # type: ignore[attr-defined]
    assert outcome.stop == case.expected_stop  # type: ignore[attr-defined]
    if case.expected_reasoning:
        assert outcome.reasoning == case.expected_reasoning  # type: ignore[attr-defined]
    if case.expected_usage is not None:
        usage = case.expected_usage
        assert outcome.usage == {
            "input": usage.input,
            "output": usage.output,
            "cache_read": usage.cache_read,
        }  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("client", "upstream", "feature"), _cells("response"), ids=lambda v: str(v)
)
def test_response(client: ir.WireFormat, upstream: ir.WireFormat, feature: str) -> None:
    upstream_body = get_codec(upstream).encode_response(
        RESPONSE_CASES[feature].response, model="upstream-model"
    )
    decoded = get_codec(upstream).decode_response(upstream_body)
    client_body = get_codec(client).encode_response(decoded, model="client-model")
    import json

    outcome = parse(client, json.dumps(client_body).encode(), stream=False)
    _check_outcome(feature, client, outcome)


def _convert_stream(
    client: ir.WireFormat, upstream: ir.WireFormat, events: list[ir.StreamEvent], *, seed: int
) -> bytes:
    upstream_encoder = get_codec(upstream).stream_encoder(
        model="upstream-model", request=ir.Request(model="upstream-model", include_usage=True)
    )
    upstream_bytes = b"".join(upstream_encoder.encode(e) for e in events) + upstream_encoder.close()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(upstream_bytes)), k=min(20, len(upstream_bytes) - 1)))
    chunks = [
        upstream_bytes[a:b] for a, b in zip([0, *cuts], [*cuts, len(upstream_bytes)], strict=True)
    ]
    parser = SSEParser()
    decoder = get_codec(upstream).stream_decoder()
    encoder = get_codec(client).stream_encoder(
        model="client-model", request=ir.Request(model="client-model", include_usage=True)
    )
    out: list[bytes] = []
    for chunk in chunks:
        for sse in parser.feed(chunk):
            out.extend(encoder.encode(e) for e in decoder.feed(sse))
    for sse in parser.close():
        out.extend(encoder.encode(e) for e in decoder.feed(sse))
    out.extend(encoder.encode(e) for e in decoder.close())
    out.append(encoder.close())
    return b"".join(out)


@pytest.mark.parametrize(("client", "upstream", "feature"), _cells("stream"), ids=lambda v: str(v))
def test_stream(client: ir.WireFormat, upstream: ir.WireFormat, feature: str) -> None:
    if feature == "mid_stream_error":
        events = response_events(RESPONSE_CASES["text"].response)
        events = [*events[:4], ir.StreamError("overloaded_error", "Overloaded", status_code=529)]
        payload = _convert_stream(client, upstream, events, seed=7)
        with pytest.raises(Exception) as raised:  # noqa: PT011 - each SDK raises its own error type
            parse(client, payload, stream=True)
        assert "Overloaded" in str(raised.value) or "overloaded" in str(raised.value).lower()
        return
    payload = _convert_stream(
        client, upstream, response_events(RESPONSE_CASES[feature].response), seed=len(feature)
    )
    _check_outcome(feature, client, parse(client, payload, stream=True))
