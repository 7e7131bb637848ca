"""A headless ``chromium`` for tests of a plugin's web pages, driven over the Chrome DevTools
Protocol (CDP) with ``websockets``: evaluate JavaScript, click and type like a person, record the
URLs the page asks for, take screenshots.

Only the standard library, ``httpx`` and ``websockets`` (both core dependencies) are imported;
the browser binary is looked for when a page is opened, and a missing one fails that test
(Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

__all__ = ["Page", "chromium_path", "open_page"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1600",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


def chromium_path() -> str:
    """The browser binary (``chromium`` or ``chromium-browser`` on ``PATH``); when there is
    none, the calling test fails saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        import pytest  # only here: importing this module needs no pytest

        pytest.fail("chromium is not installed (Debian: apt-get install -y chromium)")
    return found


class Page:
    """One page target: commands, JavaScript, clicks, key presses, and the URLs it requested."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        #: Every URL the page asked for (``Network.requestWillBeSent``), in order.
        self.requested: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a CDP command and return its result (events in between are recorded or
        skipped); a command the browser refuses raises ``RuntimeError``."""
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("method") == "Network.requestWillBeSent":
                self.requested.append(reply["params"]["request"]["url"])
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (promises awaited); one that throws
        raises ``RuntimeError``."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy and return its value (one that throws, e.g.
        while the page is still loading, counts as not yet); ``AssertionError`` after
        ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.05)

    async def click(self, selector: str) -> None:
        """Wait for the element to be visible, move the mouse onto its centre, press and release
        the left button."""
        box = await self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView(); const r = e.getBoundingClientRect();"
            " return r.width > 0 ? {x: r.x + r.width / 2, y: r.y + r.height / 2} : null; })()"
        )
        x, y = box["x"], box["y"]
        await self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def press(self, key: str, code: str, key_code: int, text: str = "") -> None:
        """Press and release one key, as a keyboard would (``text`` is what it types)."""
        await self.send(
            "Input.dispatchKeyEvent",
            type="keyDown",
            key=key,
            code=code,
            windowsVirtualKeyCode=key_code,
            text=text,
        )
        await self.send(
            "Input.dispatchKeyEvent",
            type="keyUp",
            key=key,
            code=code,
            windowsVirtualKeyCode=key_code,
        )

    async def screenshot(self, path: Path) -> None:
        """Write a PNG of the whole page to ``path``."""
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    marker = profile / "DevToolsActivePort"
    for _ in range(300):
        if marker.exists():
            text = marker.read_text().split()
            if text:
                return int(text[0])
        if process.returncode is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        await asyncio.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


@asynccontextmanager
async def open_page(url: str, *, dark: bool = False) -> AsyncIterator[Page]:
    """Headless chromium showing ``url`` (in the dark colour scheme with ``dark``), with a
    fresh private profile; the browser is stopped and the profile removed afterwards.

    Navigation is started, not awaited: wait for what the test needs with
    :meth:`Page.wait_for`.
    """
    binary = chromium_path()
    with tempfile.TemporaryDirectory(prefix="ccproxy-chromium-") as scratch:
        profile = Path(scratch)
        env = {**os.environ, "HOME": scratch}
        process = await asyncio.create_subprocess_exec(
            binary,
            *_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        try:
            port = await _devtools_port(profile, process)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as devtools:
                targets = (await devtools.get("/json/list")).json()
            target = next(t for t in targets if t["type"] == "page")
            async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                page = Page(ws)
                await page.send("Network.enable")
                await page.send("Page.enable")
                if dark:
                    await page.send(
                        "Emulation.setEmulatedMedia",
                        features=[{"name": "prefers-color-scheme", "value": "dark"}],
                    )
                await page.send("Page.navigate", url=url)
                yield page
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
            with contextlib.suppress(OSError):
                shutil.rmtree(profile, ignore_errors=True)
