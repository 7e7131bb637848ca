"""Logging: secrets masked in every line, plugin names bound, configuration applied once."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
import structlog
from pydantic import SecretStr
from structlog.testing import capture_logs

from ccproxy.config import LoggingSettings
from ccproxy.logging import (
    configure_logging,
    get_logger,
    get_plugin_logger,
    mask_secrets,
    mask_text,
)

ANTHROPIC_TOKEN = "sk-ant-oat01-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u"
OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
OPAQUE = "rt_0paqueRefreshTokenValue1234567890"


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_capture_logs_shows_tokens_masked_as_kwarg_in_message_and_nested() -> None:
    logger = get_logger("test.mask")
    with capture_logs(processors=[mask_secrets]) as events:
        logger.info(
            f"upstream said Bearer {OPAQUE} for key {OPENAI_KEY}",
            access_token=OPAQUE,
            headers={
                "Authorization": f"Bearer {ANTHROPIC_TOKEN}",
                "X-Api-Key": OPENAI_KEY,
                "accept": "*/*",
            },
            body=[{"refresh_token": OPAQUE, "max_tokens": 1024}],
            note=f"id token {JWT}",
            secret_obj=SecretStr("hunter2-hunter2"),
        )
    (event,) = events
    dumped = repr(event)
    for secret in (ANTHROPIC_TOKEN, OPENAI_KEY, JWT, OPAQUE, "hunter2"):
        assert secret not in dumped
    assert event["event"] == "upstream said Bearer rt_0…(masked) for key sk-p…(masked)"
    assert event["access_token"] == "rt_0…(masked)"
    assert event["headers"] == {
        "Authorization": "Bearer sk-a…(masked)",
        "X-Api-Key": "sk-p…(masked)",
        "accept": "*/*",
    }
    assert event["body"] == [{"refresh_token": "rt_0…(masked)", "max_tokens": 1024}]
    assert event["note"] == "id token eyJh…(masked)"
    assert event["secret_obj"] == "(masked)"


def test_masking_does_not_mutate_the_callers_objects() -> None:
    headers = {"authorization": f"Bearer {OPAQUE}"}
    with capture_logs(processors=[mask_secrets]) as events:
        get_logger("test.mask").info("sent", headers=headers)
    assert headers == {"authorization": f"Bearer {OPAQUE}"}
    assert events[0]["headers"] == {"authorization": "Bearer rt_0…(masked)"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /callback?code=AbCdEfGhIjKlMnOp&state=xyz",
            "GET /callback?code=AbCd…(masked)&state=xyz",
        ),
        (
            '{"refresh_token": "short", "expires_in": 3600}',
            '{"refresh_token": "(masked)", "expires_in": 3600}',
        ),
        ("{'x-api-key': 'k3y-value-0123456789'}", "{'x-api-key': 'k3y-…(masked)'}"),
        (
            "grant_type=authorization_code&code_verifier=v3rifierv3rifier",
            "grant_type=authorization_code&code_verifier=v3ri…(masked)",
        ),
        ("cookie: ccproxy_token=abc; theme=dark", "cookie: ccpr…(masked); theme=dark"),
        ("Cookie: theme=dark; ccproxy_token=abc", "Cookie: (masked); ccproxy_token=(masked)"),
        (
            "setup_socks5_connection.started auth=(b'alice', b's3cretPW') host=b'up'",
            "setup_socks5_connection.started auth=(b'alice', b'(masked)') host=b'up'",
        ),
        # Not secrets: usage counters, status codes, prose.
        (
            "status_code=500 max_tokens=100 input_tokens=5",
            "status_code=500 max_tokens=100 input_tokens=5",
        ),
        ("process exited with code: 1", "process exited with code: 1"),
        ('{"token_type": "Bearer", "code": null}', '{"token_type": "Bearer", "code": null}'),
        ("Bearer token missing", "Bearer token missing"),
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_text_without_secrets_is_returned_as_is() -> None:
    text = "request_completed provider=claude status=200 duration_ms=12 " * 20
    assert mask_text(text) is text


@pytest.mark.usefixtures("fresh_logging")
def test_json_lines_written_by_the_configured_renderer_are_masked() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)
    logger = get_logger("ccproxy.test", request_id="req-1")
    logger.info(
        "upstream_request",
        headers={
            "authorization": f"Bearer {ANTHROPIC_TOKEN}",
            "anthropic-beta": "oauth-2025-04-20",
        },
        url=f"https://auth.example/token?refresh_token={OPAQUE}",
    )
    logger.warning(f"refresh failed for Bearer {OPAQUE}")
    try:
        raise RuntimeError(f"upstream rejected {ANTHROPIC_TOKEN}")
    except RuntimeError:
        logger.exception("refresh_crashed")
    # stdlib loggers (uvicorn, httpx, plugins using logging) go through the same chain.
    logging.getLogger("uvicorn.error").error("client sent x-api-key: %s", OPENAI_KEY)

    output = stream.getvalue()
    for secret in (ANTHROPIC_TOKEN, OPAQUE, OPENAI_KEY):
        assert secret not in output
    first, second, third, fourth = json_lines(stream)
    assert first["event"] == "upstream_request"
    assert first["request_id"] == "req-1"
    assert first["level"] == "info"
    assert first["logger"] == "ccproxy.test"
    assert first["headers"] == {
        "authorization": "Bearer sk-a…(masked)",
        "anthropic-beta": "oauth-2025-04-20",
    }
    assert first["url"] == "https://auth.example/token?refresh_token=rt_0…(masked)"
    assert second["event"] == "refresh failed for Bearer rt_0…(masked)"
    assert "RuntimeError: upstream rejected sk-a…(masked)" in str(third["exception"])
    assert fourth == {
        "event": "client sent x-api-key: sk-p…(masked)",
        "level": "error",
        "logger": "uvicorn.error",
        "timestamp": fourth["timestamp"],
    }


@pytest.mark.usefixtures("fresh_logging")
def test_plugin_logger_carries_the_plugin_name() -> None:
    with capture_logs() as events:
        get_plugin_logger("codex").info("token_refreshed", expires_in=3600)
    assert events == [
        {"event": "token_refreshed", "plugin": "codex", "expires_in": 3600, "log_level": "info"}
    ]

    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)
    get_plugin_logger("claude").warning("profile_override", key="version")
    (line,) = json_lines(stream)
    assert line["plugin"] == "claude"
    assert line["logger"] == "ccproxy.plugins.claude"


@pytest.mark.usefixtures("fresh_logging")
def test_configuration_happens_once_unless_forced() -> None:
    logger = get_logger("ccproxy.test")  # created before configuration: lazy, picks it up
    first, second, third = io.StringIO(), io.StringIO(), io.StringIO()
    configure_logging(LoggingSettings(format="json", level="INFO"), stream=first)
    configure_logging(LoggingSettings(format="console", level="DEBUG"), stream=second)
    logger.debug("hidden")
    logger.info("shown")
    assert [line["event"] for line in json_lines(first)] == ["shown"]
    assert second.getvalue() == ""

    configure_logging(LoggingSettings(format="json", level="DEBUG"), stream=third, force=True)
    logger.debug("now_shown")
    assert [line["event"] for line in json_lines(third)] == ["now_shown"]
    assert [line["event"] for line in json_lines(first)] == ["shown"]  # the old handler is gone
    assert (
        sum(
            isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
            for h in logging.getLogger().handlers
        )
        == 1
    )


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("fresh_logging")
def test_format_defaults_to_console_on_a_tty_and_json_elsewhere() -> None:
    tty = FakeTTY()
    configure_logging(LoggingSettings(), stream=tty)
    get_logger("ccproxy.test").info("hello", token=OPAQUE)
    line = tty.getvalue()
    assert "hello" in line
    assert not line.lstrip().startswith("{")
    assert OPAQUE not in line

    pipe = io.StringIO()
    configure_logging(LoggingSettings(), stream=pipe, force=True)
    get_logger("ccproxy.test").info("hello")
    assert json_lines(pipe)[0]["event"] == "hello"


def test_loggers_work_before_configure_logging_and_still_mask() -> None:
    code = (
        "from ccproxy.logging import get_logger, get_plugin_logger\n"
        "log = get_logger()\n"
        "log.info('not_shown_below_warning')\n"
        f"log.warning('startup', token='{OPAQUE}')\n"
        "get_plugin_logger('codex').error('failed', reason='x')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    log.exception('crashed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "not_shown_below_warning" not in result.stderr
    assert "event='startup'" in result.stderr
    assert "token='rt_0…(masked)'" in result.stderr
    assert OPAQUE not in result.stderr
    assert "plugin='codex'" in result.stderr
    assert "ZeroDivisionError" in result.stderr
