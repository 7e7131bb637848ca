"""Drive Debian's headless ``chromium`` through the Chrome DevTools Protocol (websockets),
recording every request the page makes and taking screenshots."""

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
import pytest
import websockets

__all__ = ["Page", "chromium_path", "open_page"]

FLAGS = [
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
]


def chromium_path() -> str:
    """The browser binary; a missing browser fails the test (``scripts/check`` installs it)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: apt-get install -y chromium (scripts/check does it)")


class Page:
    """One page target: commands, JavaScript, key presses, and the URLs it requested."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        #: Every URL the page asked for (``Network.requestWillBeSent``), in order.
        self.requested: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events in between are recorded or skipped)."""
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
        """The JSON value of ``expression`` in the page."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy (one that throws, e.g. while the page is still
        loading, counts as not yet)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.05)

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
        """A PNG of the whole page."""
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))


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
    fresh private profile removed afterwards."""
    binary = chromium_path()
    with tempfile.TemporaryDirectory(prefix="ccproxy-chromium-") as scratch:
        profile = Path(scratch)
        env = {**os.environ, "HOME": scratch}
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
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
