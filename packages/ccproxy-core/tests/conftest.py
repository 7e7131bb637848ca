"""Test configuration of ccproxy-core."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import structlog

import ccproxy.logging as ccproxy_logging

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # demo_format, the small test provider's credential format


def _uvloop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop,
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """asyncio's loop; a module naming ``EVENT_LOOPS`` runs each async test once per loop there."""
    names = getattr(getattr(item, "module", None), "EVENT_LOOPS", None) or ("asyncio",)
    return {name: _FACTORIES[name] for name in names}


@pytest.fixture
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test configure logging from scratch, then put the process state back."""
    old_config = structlog.get_config()
    root = logging.getLogger()
    old_root = (root.handlers[:], root.level)
    touched = [
        logging.getLogger(n)
        for n in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore")
    ]
    old_touched = [(lg.handlers[:], lg.propagate, lg.level) for lg in touched]
    monkeypatch.setattr(ccproxy_logging, "_configured", False)
    monkeypatch.setattr(ccproxy_logging, "_handler", None)
    yield
    structlog.configure(**old_config)
    root.handlers[:] = old_root[0]
    root.setLevel(old_root[1])
    for lg, (handlers, propagate, level) in zip(touched, old_touched, strict=True):
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)
