"""Parsing a client's JSON body strictly enough that nothing later in the pipeline chokes on it.

Python's ``json`` accepts more than the JSON the upstreams take, and some of what it accepts
breaks code further down: ``NaN``/``Infinity`` (and ``1e999``) are not JSON; an unpaired UTF-16
surrogate escape (``"\\ud800"``) decodes but cannot be encoded again; an integer with more than
4300 digits raises ``ValueError``; and deep nesting raises ``RecursionError`` in the parser, or,
just under the parser's limit, later in the codecs, pydantic or ``json.dumps``. Every one of these
is a :class:`BodyError` here, answered with 400 in the client's dialect; nesting is bounded at
:data:`MAX_JSON_DEPTH` levels, far beyond any real request (tool schemas are a few levels deep).
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "BodyError", "loads_client_json"]

#: Deepest nesting of arrays and objects accepted in a client body.
MAX_JSON_DEPTH = 128
# Only an escape can put a surrogate into a parsed string; a compiled search finds one about
# ten times faster than ``str.find`` on prose (and usually finds none, skipping the walk).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BodyError(ValueError):
    """The body is not JSON the proxy accepts; the message says why (answered with 400)."""


def loads_client_json(raw: bytes) -> Any:
    """``raw`` parsed as strict UTF-8 JSON, or :class:`BodyError` naming the problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            f"The request body is not valid UTF-8 (invalid byte at position {exc.start})."
        ) from None
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except BodyError:
        raise
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"The request body is not valid JSON: {exc.msg} at position {exc.pos}."
        ) from None
    except RecursionError:
        raise BodyError(_too_deep(None)) from None
    except ValueError:
        # The only other ValueError json raises: int() refusing an over-long digit string.
        raise BodyError(
            "The request body contains an integer with more than "
            f"{sys.get_int_max_str_digits()} digits."
        ) from None
    too_deep = _first_too_deep(value)
    if too_deep is not None:
        raise BodyError(_too_deep(too_deep or None))
    if _SURROGATE_ESCAPE.search(text) is not None:
        unpaired = _first_unpaired_surrogate(value)
        if unpaired is not None:
            where = f" in '{unpaired}'" if unpaired else ""
            raise BodyError(
                f"The request body contains an unpaired UTF-16 surrogate escape{where}; "
                "strings must be valid Unicode."
            )
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"The number {text[:40]} in the request body is too large.")
    return value


def _reject_constant(name: str) -> Any:
    raise BodyError(f"The request body is not valid JSON: {name} is not a JSON value.")


def _too_deep(field: str | None) -> str:
    where = f" in '{field}'" if field else ""
    return f"The request body is nested more than {MAX_JSON_DEPTH} levels deep{where}."


def _first_too_deep(value: Any) -> str | None:
    """The top-level field holding nesting deeper than the limit ("" for the root), else None."""
    if type(value) is dict:
        for key, child in value.items():
            if _deeper_than(child, MAX_JSON_DEPTH - 1):
                return str(key)
        return None
    return "" if _deeper_than(value, MAX_JSON_DEPTH) else None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels deep.

    Level by level, iteratively: the check itself must not recurse, and it runs on every body.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 1
    while level:
        if depth > limit:
            return True
        following = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                kind = type(child)
                if kind is dict or kind is list:
                    following.append(child)
        level = following
        depth += 1
    return False


def _first_unpaired_surrogate(value: Any) -> str | None:
    """The top-level field holding a string that is not valid Unicode ("" for the root)."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, field = pending.pop()
        if type(item) is str:
            if not _encodable(item):
                return field
        elif type(item) is dict:
            for key, child in item.items():
                if not _encodable(key):
                    return field
                pending.append((child, field or str(key)))
        elif type(item) is list:
            pending.extend((child, field) for child in item)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
