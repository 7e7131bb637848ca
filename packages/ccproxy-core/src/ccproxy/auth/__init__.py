"""OAuth for provider plugins: PKCE, the loopback callback server, device-code helpers,
credential files, token refresh.

Provider-neutral: a provider plugin describes itself as an :class:`OAuthProvider` (its
:class:`CredentialFormat`, its configured :class:`OAuthTokenClient`, its authorize URL and login
methods) and exposes it as the ``ccproxy.commands`` entry point ``auth.<provider>``: core builds
``ccproxy auth login|status|refresh|logout`` from it, and :class:`OAuthPluginFactory` the auth
provider plugin whose ``oauth.<provider>`` service holds each account's
:meth:`OAuthProvider.token_source`.
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
from ccproxy.auth.exchange import ExchangedToken, ExchangedTokenSource, TokenExchange
from ccproxy.auth.login import LoginError, LoginUI, login, parse_pasted_code
from ccproxy.auth.manager import TokenManager
from ccproxy.auth.pkce import PKCEPair, build_authorize_url, generate_state
from ccproxy.auth.plugin import OAuthPluginFactory, OAuthPluginRuntime, UsageHook
from ccproxy.auth.provider import (
    AuthorizationCode,
    AuthorizeRequest,
    CallbackSpec,
    DeviceAuthorization,
    LoginMethod,
    LoginOption,
    OAuthProvider,
)
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
    "AuthorizationCode",
    "AuthorizeRequest",
    "BodyEncoding",
    "CallbackResult",
    "CallbackServer",
    "CallbackSpec",
    "CredentialError",
    "CredentialFile",
    "CredentialFormat",
    "Credentials",
    "DeviceAuthorization",
    "DeviceFlowTimeout",
    "ExchangedToken",
    "ExchangedTokenSource",
    "LoginError",
    "LoginMethod",
    "LoginOption",
    "LoginUI",
    "OAuthPluginFactory",
    "OAuthPluginRuntime",
    "OAuthProvider",
    "OAuthTokenClient",
    "PKCEPair",
    "Pending",
    "PollResult",
    "PortsBusyError",
    "RefreshClient",
    "RefreshError",
    "TokenEndpointError",
    "TokenExchange",
    "TokenManager",
    "TokenReply",
    "UsageHook",
    "build_authorize_url",
    "credentials_from_reply",
    "decode_jwt_claims",
    "generate_state",
    "jwt_expiry",
    "login",
    "parse_pasted_code",
    "poll_until",
]
