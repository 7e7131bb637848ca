"""Wire formats and the conversion hub: IR, SSE, per-format codecs."""
