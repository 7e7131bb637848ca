"""A throwaway certificate authority for the bench's HTTPS upstream.

Production upstreams are HTTPS only, so by default the bench upstream is too: a CA made at bench
time issues the upstream's certificate for 127.0.0.1, and the proxies under test trust it through
``SSL_CERT_FILE`` (read by OpenSSL's default verify paths, httpx with ``trust_env`` and
ccproxy-api alike). The file also carries the system's CA bundle, so a proxy that loads
``SSL_CERT_FILE`` whole holds a trust store of production size, not one certificate.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class BenchTLS:
    """Paths of the PEM files one bench run uses."""

    ca_bundle: Path  # the bench CA and the system's CAs: what ``SSL_CERT_FILE`` points at
    cert_chain: Path  # the upstream's certificate chain
    private_key: Path  # the upstream's key

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting the bench CA (for the bench's own direct requests)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))


def make_tls(folder: Path) -> BenchTLS:
    """Create a CA and a certificate for ``127.0.0.1`` and ``localhost`` under ``folder``."""
    ca = trustme.CA(organization_name="ccproxy bench")
    server = ca.issue_cert("127.0.0.1", "localhost")
    tls = BenchTLS(
        ca_bundle=folder / "ca-bundle.pem",
        cert_chain=folder / "upstream-chain.pem",
        private_key=folder / "upstream-key.pem",
    )
    system = ssl.get_default_verify_paths().cafile
    system_pem = Path(system).read_bytes() if system and Path(system).is_file() else b""
    tls.ca_bundle.write_bytes(ca.cert_pem.bytes() + system_pem)
    server.cert_chain_pems[0].write_to_path(str(tls.cert_chain))
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(str(tls.cert_chain), append=True)
    server.private_key_pem.write_to_path(str(tls.private_key))
    return tls
