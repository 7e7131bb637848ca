"""Noticing a client that leaves before its answer is ready.

Every upstream request spends someone's subscription, so work for a client that has gone must
stop: a request still waiting for a pooled connection is never sent, and an upstream answer
being read for nobody is closed at once.
"""

from __future__ import annotations

import asyncio

import anyio
from starlette.types import Receive

__all__ = ["ClientWatch"]


class ClientWatch:
    """Cancels ``scope`` when the client disconnects (ASGI ``http.disconnect``).

    Start it only once the request body has been read, since it consumes ``receive``; call
    :meth:`stop` before a streaming response takes ``receive`` over. A disconnect that arrives
    just before ``stop`` is not lost: servers answer every later ``receive`` with
    ``http.disconnect`` again, so the streaming response's own listener sees it too.
    """

    __slots__ = ("_task", "gone", "scope")

    def __init__(self, receive: Receive) -> None:
        #: The work to cancel: run it inside ``with watch.scope:``.
        self.scope = anyio.CancelScope()
        #: The client disconnected while the work ran.
        self.gone = False
        self._task = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            # Stopped. Ending quietly keeps no exception on the finished task: its traceback
            # would hold this watch and the request's frames in a cycle, so every request's
            # objects would wait for the cyclic garbage collector instead of going at once.
            return
        except Exception:
            return  # a receive that cannot say (a scripted one in a test) leaves the work be
        self.gone = True
        self.scope.cancel()

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        self._task.cancel()
