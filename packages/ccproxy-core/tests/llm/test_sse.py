"""The incremental SSE parser and the writer (WHATWG event-stream rules)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ccproxy.llm.sse import SSEEvent, SSEParser, encode_event, encode_json_event

# Field values: any text without line breaks (multi-byte characters included).
values = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=40,
)
events = st.lists(
    st.builds(
        lambda data, name: SSEEvent(data="\n".join(data), event=name),
        st.lists(values, min_size=1, max_size=3),
        st.one_of(st.none(), values.filter(lambda v: v and not v.startswith(" "))),
    ),
    max_size=8,
)
line_endings = st.sampled_from(["\n", "\r\n", "\r"])


def serialise(items: list[SSEEvent], ending: str, *, comments: bool) -> bytes:
    out = []
    for item in items:
        if comments:
            out.append(f": keep-alive{ending}")
        if item.event is not None:
            out.append(f"event: {item.event}{ending}")
        out.extend(f"data: {line}{ending}" for line in item.data.split("\n"))
        out.append(ending)
    return "".join(out).encode("utf-8")


def parse_in_chunks(payload: bytes, cuts: list[int]) -> list[SSEEvent]:
    points = sorted({0, len(payload), *(c % (len(payload) + 1) for c in cuts)})
    parser = SSEParser()
    parsed: list[SSEEvent] = []
    for start, end in itertools.pairwise(points):
        parsed.extend(parser.feed(payload[start:end]))
    parsed.extend(parser.close())
    return parsed


@given(
    events,
    line_endings,
    st.booleans(),
    st.lists(st.integers(min_value=0, max_value=100_000), max_size=30),
)
def test_any_split_parses_to_the_same_events(
    items: list[SSEEvent], ending: str, comments: bool, cuts: list[int]
) -> None:
    payload = serialise(items, ending, comments=comments)
    assert parse_in_chunks(payload, cuts) == items
    # One byte at a time: splits inside multi-byte characters and between \r and \n.
    assert parse_in_chunks(payload, list(range(len(payload)))) == items


@given(events)
def test_writer_output_parses_back(items: list[SSEEvent]) -> None:
    payload = b"".join(encode_event(item.data, item.event) for item in items)
    assert parse_in_chunks(payload, []) == items


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    # "\n" completes the CRLF; the lone "\r" after it is a blank line and dispatches "a".
    assert parser.feed(b"\n\r") == [SSEEvent("a")]
    # This "\n" pairs with that "\r" (one line ending), so no extra blank line appears.
    assert parser.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("b")]


def test_comments_ids_retry_and_unknown_fields() -> None:
    parser = SSEParser()
    parsed = parser.feed(b": hello\nid: 7\nretry: 1500\nfoo: bar\nevent: ping\ndata\ndata:x\n\n")
    assert parsed == [SSEEvent(data="\nx", event="ping", id="7", retry=1500)]


def test_event_without_data_is_not_dispatched_and_its_type_is_forgotten() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: lonely\n\ndata: after\n\n") == [SSEEvent("after")]


def test_unterminated_final_event_is_flushed_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: message_stop\ndata: {}") == []
    assert parser.close() == [SSEEvent("{}", event="message_stop")]


def test_multibyte_character_split_inside_a_chunk_boundary() -> None:
    encoded = "data: café ☕\n\n".encode()
    split = encoded.index("é".encode()) + 1
    parser = SSEParser()
    assert parser.feed(encoded[:split]) == []
    assert parser.feed(encoded[split:]) == [SSEEvent("café ☕")]


def test_json_event_writer() -> None:
    assert encode_json_event({"a": "é"}, "x") == 'event: x\ndata: {"a":"é"}\n\n'.encode()
    assert SSEEvent('{"k": [1]}').json() == {"k": [1]}
