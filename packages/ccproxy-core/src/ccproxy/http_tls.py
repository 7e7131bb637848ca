"""The TLS settings of upstream connections: the operating system's trust store.

``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, when set, name the CAs to trust instead (as curl, OpenSSL
and httpx read them). Otherwise ``truststore`` verifies against the OS store, so a corporate CA
installed on the machine works; certifi's bundle is the fallback when truststore cannot be used.
"""

from __future__ import annotations

import os
import ssl

import certifi

from ccproxy.logging import get_logger

__all__ = ["client_ssl_context"]


def client_ssl_context() -> ssl.SSLContext:
    """A verifying client context (hostname checked, TLS 1.2+), read from the environment now."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    try:
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception as exc:  # ImportError, or a platform where the OS store cannot be opened
        get_logger("ccproxy.http").warning(
            "tls_trust_store_unavailable", error=type(exc).__name__, fallback="certifi"
        )
        return ssl.create_default_context(cafile=certifi.where())
