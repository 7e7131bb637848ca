"""What a provider plugin needs beyond :mod:`ccproxy.plugins`: the pipeline's extension points.

A provider plugin subclasses :class:`ProviderAdapter` (the request pipeline, with hooks to
override: credentials, upstream headers and body, usage and rate limits), describes its upstream
with a :class:`ProviderEndpoint` and a :class:`ProviderProfile`, maps model names with
:class:`ModelAliases`, and mounts the standard client routes with :func:`provider_router`.
"""

from __future__ import annotations

from ccproxy.llm.errors import InvalidRequestError
from ccproxy.llm.ir import WireFormat
from ccproxy.llm.sse import SSEParser
from ccproxy.proxy.aliases import AliasResolution, ModelAliases, UnknownModelError
from ccproxy.proxy.body import BodyError, loads_client_json
from ccproxy.proxy.count_tokens import (
    ESTIMATE_HEADER,
    estimate_input_tokens,
    estimated_count_tokens,
)
from ccproxy.proxy.pipeline import ProviderAdapter, ProviderEndpoint, UpstreamRequest
from ccproxy.proxy.profile import ProfileOverrides, ProviderProfile
from ccproxy.proxy.request_checks import check_client_body
from ccproxy.proxy.response_store import ResponseStore
from ccproxy.proxy.routes import provider_router

__all__ = [
    "ESTIMATE_HEADER",
    "AliasResolution",
    "BodyError",
    "InvalidRequestError",
    "ModelAliases",
    "ProfileOverrides",
    "ProviderAdapter",
    "ProviderEndpoint",
    "ProviderProfile",
    "ResponseStore",
    "SSEParser",
    "UnknownModelError",
    "UpstreamRequest",
    "WireFormat",
    "check_client_body",
    "estimate_input_tokens",
    "estimated_count_tokens",
    "loads_client_json",
    "provider_router",
]
