"""The TLS settings of upstream connections: the operating system's trust store.

``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, when set, name the CAs to trust instead (as curl, OpenSSL
and httpx read them). On macOS and Windows ``truststore`` verifies with the platform's own
verifier, so a corporate CA installed on the machine works. Elsewhere the OS store *is* OpenSSL's
CA bundle, loaded once here: truststore would re-read it for every new connection (about 45 ms of
CPU each, measured on Debian), which a burst of a thousand streams cannot afford. certifi's
bundle is the fallback when neither can be used.
"""

from __future__ import annotations

import os
import ssl
import sys

import certifi

from ccproxy.logging import get_logger

__all__ = ["client_ssl_context"]

#: Where Linux distributions keep the system CA bundle, for Pythons whose OpenSSL was built to
#: look elsewhere (e.g. relocatable builds): Debian/Ubuntu/Arch, Fedora/RHEL, openSUSE, Alpine.
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def client_ssl_context(platform: str = sys.platform) -> ssl.SSLContext:
    """A verifying client context (hostname checked, TLS 1.2+), from the environment as it is now.

    ``platform`` is ``sys.platform`` unless a test asks for another platform's choice.
    """
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    if platform in ("darwin", "win32"):
        try:
            import truststore

            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        except Exception as exc:  # ImportError, or an OS store that cannot be opened
            return _certifi_context(type(exc).__name__)
    defaults = ssl.get_default_verify_paths()  # names only paths that exist
    if defaults.cafile or defaults.capath:
        return ssl.create_default_context()
    for bundle in _SYSTEM_BUNDLES:
        if os.path.isfile(bundle):
            return ssl.create_default_context(cafile=bundle)
    return _certifi_context("no system CA bundle")


def _certifi_context(reason: str) -> ssl.SSLContext:
    get_logger("ccproxy.http").warning(
        "tls_trust_store_unavailable", reason=reason, fallback="certifi"
    )
    return ssl.create_default_context(cafile=certifi.where())
