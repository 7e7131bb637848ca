"""Logging: structlog configured once per process, with secrets masked in every line.

``configure_logging`` sets up structlog *and* the standard library's ``logging`` (uvicorn, httpx,
plugins using ``logging.getLogger``) so that both go through one processor chain and one
renderer, JSON or console. ``mask_secrets`` sits in that chain after exceptions are formatted,
so tracebacks are masked too, and before the event reaches any ``logging`` handler.

Loggers from ``get_logger`` / ``get_plugin_logger`` are lazy: a module-level logger created
before ``configure_logging`` runs uses the final configuration. Without ``configure_logging``
they still work: events go to the standard library's ``logging`` as masked key/value text.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, Final, TextIO

from pydantic import SecretBytes, SecretStr

from ccproxy._lean_imports import import_without_rich

import_without_rich("structlog", "httpx")

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ccproxy.config.settings import LoggingSettings

__all__ = [
    "MASK",
    "configure_logging",
    "get_logger",
    "get_plugin_logger",
    "mask_secrets",
    "mask_text",
    "mask_url_passwords",
    "plugin_logger_name",
]

#: What replaces a secret (after a short hint of its first characters when it is long).
MASK: Final = "(masked)"

# Loggers whose own handlers would bypass ours; they are routed through the root logger.
_ROUTED_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# One INFO line per upstream request from these duplicates ccproxy's own request event.
_CHATTY_LOGGERS: Final = ("httpx", "httpcore", "hpack")

# Keys are compared after lower-casing and turning '-' into '_'.
_SECRET_KEYS: Final = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "x_api_key",
        "api_key",
        "apikey",
        "cookie",
        "set_cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "code",
        "code_verifier",
        "private_key",
    }
)
# Covers access_token, refresh_token, id_token, auth_token, oauth_token, client_secret, ...
# but not usage counters such as max_tokens or input_tokens.
_SECRET_SUFFIXES: Final = ("_token", "_secret", "_password", "_api_key", "_apikey", "_private_key")

# Each text pattern runs only when a literal it needs occurs in the string, so that the common
# case (no secret) costs a few substring tests.
_BEARER = re.compile(r"(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})", re.I)
# Anthropic (sk-ant-...) and OpenAI (sk-..., sk-proj-...) keys and tokens.
_SK = re.compile(r"\bsk-[A-Za-z0-9_-]{12,}")
# JWTs: three base64url segments; the header always starts with '{"', i.e. "eyJ".
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# key=value (URLs, form bodies), "key": "value" (JSON, dict reprs) and key: value (header dumps).
# The pattern starts at the distinctive part of the key; _mask_pair reads the whole key.
_PAIR = re.compile(
    r"(token|secret|passw(?:or)?d|api[_-]?key|code(?:_verifier)?|authorization|cookie)"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*(?P<quote>[\"']?))"
    r"(?P<value>(?<=[\"'])[^\"'\r\n]+|[^&\s\"',;}<>]+)",
    re.I,
)
# scheme://user:password@host: the password, up to the authority's last '@' (as urlsplit reads
# it, so an unescaped '@' inside a password is masked too).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s]+(?=@)")
# httpcore's DEBUG trace of a SOCKS5 handshake: auth=(b'user', b'password').
_SOCKS_AUTH = re.compile(r"(?P<head>\bauth=\(b?(?P<q>['\"]).*?(?P=q),\s*b?['\"])[^'\"]*(?=['\"]\))")
_PAIR_TRIGGERS: Final = ("token", "secret", "passw", "key", "code", "cookie", "authoriz")
_KEY_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

_AUTH_SCHEMES: Final = frozenset({"bearer", "basic"})
_NOT_SECRET_VALUES: Final = _AUTH_SCHEMES | {"null", "none", "true", "false"}
_MAX_DEPTH: Final = 16
# Added by ProcessorFormatter to stdlib events and removed before rendering.
_PROCESSOR_META: Final = frozenset({"_record", "_from_structlog"})
_HINT_MIN_LENGTH: Final = 12

_configure_lock = threading.Lock()
_configured = False
_handler: logging.Handler | None = None


def _hint(secret: str) -> str:
    """``secret`` reduced to a short prefix (only when long enough to stay unguessable) + MASK."""
    if len(secret) >= _HINT_MIN_LENGTH:
        return f"{secret[:4]}…{MASK}"
    return MASK


def _mask_token(match: re.Match[str]) -> str:
    return _hint(match[0])


def _mask_bearer(match: re.Match[str]) -> str:
    return match[1] + _hint(match[2])


def _mask_pair(match: re.Match[str]) -> str:
    text, start = match.string, match.start()
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    key = text[start : match.end(1)]
    value = match["value"]
    quoted_key = match["sep"][:1] in {'"', "'"}
    if (
        not _is_secret_key(key)
        # "Authorization: Bearer <token>": _BEARER masks the token; null/true/false hide nothing.
        or value.lower() in _NOT_SECRET_VALUES
        # "exit code: 1" is prose, "code=..." and '"code": "..."' are OAuth codes.
        or (key.lower() == "code" and not quoted_key and "=" not in match["sep"])
    ):
        return match[0]
    return match[1] + match["sep"] + _hint(value)


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL masked.

    The user name, host and path stay readable: they say which URL it is.
    """
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD.sub(lambda match: match["head"] + MASK, text)


def mask_text(text: str) -> str:
    """``text`` with embedded secrets (Bearer tokens, ``sk-`` keys, JWTs, ``token=...``, URL
    and SOCKS passwords) masked."""
    text = mask_url_passwords(text)
    if "auth=(" in text:
        text = _SOCKS_AUTH.sub(lambda match: match["head"] + MASK, text)
    lowered = text.lower()
    if "sk-" in text:
        text = _SK.sub(_mask_token, text)
    if "eyJ" in text:
        text = _JWT.sub(_mask_token, text)
    if "bearer" in lowered:
        text = _BEARER.sub(_mask_bearer, text)
    for trigger in _PAIR_TRIGGERS:
        if trigger in lowered:
            return _PAIR.sub(_mask_pair, text)
    return text


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalized = key.lower().replace("-", "_")
    return normalized in _SECRET_KEYS or normalized.endswith(_SECRET_SUFFIXES)


def _mask_secret_value(value: Any) -> Any:
    """The whole value of a secret-looking key; None and booleans only say whether it is set."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        scheme, sep, rest = value.partition(" ")
        if sep and scheme.lower() in _AUTH_SCHEMES:  # keep "Bearer" visible: it helps debugging
            return f"{scheme} {_hint(rest.strip())}"
        return _hint(value)
    return MASK


def _mask_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK
    if depth >= _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {
            k: (_mask_secret_value(v) if _is_secret_key(k) else _mask_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask_value(item, depth + 1) for item in value]
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        masked = mask_text(text)
        return value if masked == text else masked
    # Anything else is rendered with repr()/str() later: mask what that would show.
    shown = repr(value)
    masked = mask_text(shown)
    return value if masked == shown else masked


def mask_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in an event, recursively, without mutating its values.

    The value of a key that looks secret (``authorization``, ``x-api-key``, ``cookie``,
    ``*_token``, ``*_secret``, ``password``, ``code``, ``code_verifier``, ...; case-insensitive) is
    replaced whatever it is. Inside every other string, ``Bearer <token>``, ``sk-...`` keys, JWTs
    and ``key=value`` / ``"key": "value"`` pairs with such keys are masked. ``SecretStr`` values are
    masked. A masked value keeps at most a four-character hint, e.g. ``"sk-a…(masked)"``.
    """
    for key, value in event_dict.items():
        if key in _PROCESSOR_META:
            continue
        if _is_secret_key(key):
            event_dict[key] = _mask_secret_value(value)
        elif isinstance(value, str):
            event_dict[key] = mask_text(value)
        elif not (value is None or isinstance(value, (bool, int, float))):
            event_dict[key] = _mask_value(value)
    return event_dict


def _shared_processors() -> list[Processor]:
    # format_exc_info turns exceptions into text *before* masking (and instead of a pretty
    # traceback renderer that would print local variables, tokens included).
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_secrets,
    ]


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _renderer(settings: LoggingSettings, stream: TextIO) -> Processor:
    tty = _is_tty(stream)
    fmt = settings.format or ("console" if tty else "json")
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(
        colors=tty, exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(
    settings: LoggingSettings, *, stream: TextIO | None = None, force: bool = False
) -> None:
    """Configure structlog and stdlib ``logging`` once per process (again only with ``force``).

    Lines go to ``stream`` (default: ``sys.stderr``) in ``settings.format``, or console when the
    stream is a TTY and JSON otherwise. The root logger gets ``settings.level`` and one handler
    owned by ccproxy (other handlers are left alone); uvicorn's loggers lose their own handlers
    and propagate to it, so run uvicorn with ``log_config=None``.
    """
    global _configured, _handler
    with _configure_lock:
        if _configured and not force:
            return
        stream = stream if stream is not None else sys.stderr
        shared = _shared_processors()
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _renderer(settings, stream),
            ],
        )
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)

        root = logging.getLogger()
        if _handler is not None:
            root.removeHandler(_handler)
        root.addHandler(handler)
        root.setLevel(settings.level)
        _handler = handler

        for name in _ROUTED_LOGGERS:
            routed = logging.getLogger(name)
            routed.handlers.clear()
            routed.propagate = True
            routed.setLevel(logging.NOTSET)
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(
                logging.NOTSET if settings.level == "DEBUG" else logging.WARNING
            )

        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *shared,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            # Not cached: a later configure_logging(force=True) must reach existing loggers.
            cache_logger_on_first_use=False,
        )
        _configured = True


def _ensure_default_configuration() -> None:
    """Before ``configure_logging``: route structlog through stdlib ``logging``, masked."""
    if _configured or structlog.is_configured():
        return
    with _configure_lock:
        if _configured or structlog.is_configured():
            return
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *_shared_processors(),
                structlog.processors.KeyValueRenderer(key_order=["event"]),
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=False,
        )


def get_logger(name: str | None = None, **bound: Any) -> structlog.stdlib.BoundLogger:
    """A (lazy) logger named ``name`` (default ``"ccproxy"``) with ``bound`` context."""
    _ensure_default_configuration()
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name or "ccproxy", **bound)
    return logger


def plugin_logger_name(name: str) -> str:
    """The stdlib logger name of plugin ``name``'s logger (``ccproxy.plugins.<name>``).

    Hot paths ask ``logging.getLogger(plugin_logger_name(name)).isEnabledFor(level)`` before
    building an event: the stdlib check is cached, a structlog call is not.
    """
    return f"ccproxy.plugins.{name}"


def get_plugin_logger(name: str) -> structlog.stdlib.BoundLogger:
    """The logger of plugin ``name``: named ``ccproxy.plugins.<name>`` and bound with ``plugin``."""
    return get_logger(plugin_logger_name(name), plugin=name)
