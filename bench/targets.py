"""The servers a bench run starts: the fake upstream, ccproxy, the stack floor, and (when
installed) ccproxy-api."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import httpx
from load import BODY, HEADERS
from processes import REPO, compile_bytecode, start, stop, wait_for
from tls import BenchTLS

from ccproxy.testing import free_port

#: The stack floor's column.
FLOOR = "stack floor"
#: Where a bench run's proxies send ``POST /v1/messages``.
UPSTREAM_PATH = "/v1/messages"


@dataclass
class Server:
    """One running server under test."""

    name: str
    process: subprocess.Popen[bytes]
    messages_url: str  # what a client posts Anthropic Messages requests to

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process)


def start_upstream(tls: BenchTLS | None) -> tuple[subprocess.Popen[bytes], str]:
    """The fake Anthropic upstream, over HTTPS when ``tls`` is given; returns it and its base URL."""
    port = free_port()
    cmd = [sys.executable, "bench/upstream.py", str(port)]
    if tls is not None:
        cmd += ["--certfile", str(tls.cert_chain), "--keyfile", str(tls.private_key)]
    process = start(cmd)
    scheme = "https" if tls else "http"
    base_url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_for(f"{base_url}/", process, verify=str(tls.ca_bundle) if tls else True)
    except BaseException:
        stop(process)
        raise
    return process, base_url


def trust_env(tls: BenchTLS | None) -> dict[str, str]:
    """Environment making a proxy trust the bench CA (``REQUESTS_CA_BUNDLE`` wins over
    ``SSL_CERT_FILE`` in ccproxy-api, so both point at it)."""
    if tls is None:
        return {}
    return {"SSL_CERT_FILE": str(tls.ca_bundle), "REQUESTS_CA_BUNDLE": str(tls.ca_bundle)}


def start_ccproxy(upstream_url: str, tls: BenchTLS | None, scratch: Path) -> Server:
    """``ccproxy serve`` with every installed plugin plus the bench provider (Anthropic passthrough).

    The metrics plugin's usage ledger goes to ``scratch``: the bench's requests are not the
    user's usage.
    """
    compile_bytecode(Path(sysconfig.get_paths()["purelib"]), *REPO.glob("packages/*/src"))
    compile_bytecode(REPO / "bench" / "plugins")
    port = free_port()
    env = {
        **os.environ,
        **trust_env(tls),
        "PLUGINS__BENCH_PROVIDER__BASE_URL": upstream_url,
        "PLUGINS__METRICS__LEDGER_PATH": str(scratch / "usage.sqlite3"),
    }
    process = start(
        [
            sys.executable,
            "-m",
            "ccproxy",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
            "--set",
            f'plugin_dirs=["{REPO / "bench" / "plugins"}"]',
        ],
        env=env,
    )
    server = Server("ccproxy", process, f"http://127.0.0.1:{port}/bench_provider/v1/messages")
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
    except BaseException:
        server.stop()
        raise
    return server


def start_floor(upstream_url: str, tls: BenchTLS | None) -> Server:
    """The stack floor (bench/floor.py): uvicorn, Starlette and httpx relaying as bytes."""
    port = free_port()
    process = start(
        [sys.executable, "bench/floor.py", str(port), upstream_url],
        env={**os.environ, **trust_env(tls)},
    )
    server = Server(FLOOR, process, f"http://127.0.0.1:{port}/v1/messages")
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
    except BaseException:
        server.stop()
        raise
    return server


class Unavailable(Exception):
    """ccproxy-api is not installed, or could not be pointed at the fake upstream."""


def find_ccproxy_api(location: str) -> tuple[Path, str]:
    """ccproxy-api's ``ccproxy`` executable and version, from its venv folder or the executable."""
    path = Path(location).expanduser()
    executable = path / "bin" / "ccproxy" if path.is_dir() else path
    if not executable.is_file():
        raise Unavailable(f"no ccproxy executable at {executable}")
    probe = subprocess.run(
        [
            str(executable.parent / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('ccproxy-api'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        raise Unavailable(f"the Python next to {executable} has no ccproxy-api distribution")
    return executable, probe.stdout.strip()


def start_ccproxy_api(
    executable: Path, upstream_url: str, tls: BenchTLS | None, scratch: Path
) -> Server:
    """ccproxy-api's ``ccproxy serve`` with its default plugins, its ``claude_api`` provider
    pointed at the fake upstream and a fake Claude Code credential in a scratch ``HOME``.

    ``PATH`` holds only its venv: at start-up it looks for the ``claude`` and ``codex`` CLIs and,
    when ``npx`` is on ``PATH``, runs ``npx @openai/codex``, which downloads Codex from npm.
    """
    python = executable.parent / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j0", purelib],
        capture_output=True,
        timeout=600,
        check=False,
    )
    home = scratch / "ccproxy-api-home"
    credentials = home / ".claude" / ".credentials.json"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": "bench-fake-access-token",
                    "refreshToken": "bench-fake-refresh-token",
                    "expiresAt": 4_102_444_800_000,  # 2100-01-01: never refreshed
                    "scopes": ["user:inference", "user:profile"],
                    "subscriptionType": "max",
                }
            }
        )
    )
    port = free_port()
    env = {
        "HOME": str(home),
        "PATH": str(executable.parent),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        **trust_env(tls),
        "PLUGINS__CLAUDE_API__BASE_URL": upstream_url,
    }
    process = start(
        [str(executable), "serve", "--port", str(port), "--log-level", "WARNING"],
        env=env,
        cwd=scratch,
    )
    server = Server("ccproxy-api", process, f"http://127.0.0.1:{port}/claude/v1/messages")
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, timeout=120)
    except RuntimeError as exc:
        server.stop()
        raise Unavailable(str(exc)) from exc
    except BaseException:
        server.stop()
        raise
    return server


def check_reaches_fake(server: Server) -> None:
    """Fail unless a request through ``server`` is answered by the bench upstream."""
    response = httpx.post(server.messages_url, content=BODY, headers=HEADERS, timeout=30)
    if response.status_code != 200 or '"msg_bench"' not in response.text:
        raise Unavailable(
            f"{server.name} did not reach the fake upstream: "
            f"{response.status_code} {response.text[:200]!r}"
        )
