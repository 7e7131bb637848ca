"""OAuth for provider plugins: PKCE, the loopback callback server, device-code helpers,
credential files, token refresh.

Provider-neutral: a provider plugin supplies its :class:`CredentialFormat` and configures an
:class:`OAuthTokenClient` (or any :class:`RefreshClient`), and registers a :class:`TokenManager` as
its ``oauth.<provider>`` ``TokenSource``.
"""

from ccproxy.auth.callback import CallbackResult, CallbackServer, PortsBusyError
from ccproxy.auth.device import (
    PENDING,
    SLOW_DOWN,
    DeviceFlowTimeout,
    Pending,
    PollResult,
    poll_until,
)
from ccproxy.auth.errors import AuthError, CredentialError, RefreshError, TokenEndpointError
from ccproxy.auth.manager import TokenManager
from ccproxy.auth.pkce import PKCEPair, build_authorize_url, generate_state
from ccproxy.auth.store import CredentialFile
from ccproxy.auth.token_client import BodyEncoding, OAuthTokenClient
from ccproxy.auth.tokens import (
    CredentialFormat,
    Credentials,
    RefreshClient,
    TokenReply,
    credentials_from_reply,
    decode_jwt_claims,
    jwt_expiry,
)

__all__ = [
    "PENDING",
    "SLOW_DOWN",
    "AuthError",
    "BodyEncoding",
    "CallbackResult",
    "CallbackServer",
    "CredentialError",
    "CredentialFile",
    "CredentialFormat",
    "Credentials",
    "DeviceFlowTimeout",
    "OAuthTokenClient",
    "PKCEPair",
    "Pending",
    "PollResult",
    "PortsBusyError",
    "RefreshClient",
    "RefreshError",
    "TokenEndpointError",
    "TokenManager",
    "TokenReply",
    "build_authorize_url",
    "credentials_from_reply",
    "decode_jwt_claims",
    "generate_state",
    "jwt_expiry",
    "poll_until",
]
