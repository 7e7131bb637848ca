"""OpenAI Responses streams: the upstream decoder and the client encoder.

``ResponsesStreamDecoder`` (``stream_decoder``) turns an upstream stream's SSE events into IR
events; ``ResponsesStreamEncoder`` (``stream_encoder``) turns IR events into spec-exact SSE
bytes. Each module documents its event mapping and its lossy mappings.
"""

from __future__ import annotations

from ccproxy.llm.formats.responses.stream_decoder import CUT_STREAM_ERROR, ResponsesStreamDecoder
from ccproxy.llm.formats.responses.stream_encoder import ResponsesStreamEncoder

__all__ = ["CUT_STREAM_ERROR", "ResponsesStreamDecoder", "ResponsesStreamEncoder"]
