"""OAuth for provider plugins: PKCE, device-code answers, credential files, token refresh.

Provider-neutral: a provider plugin describes itself as an :class:`OAuthProvider` (its
:class:`CredentialFormat`, its configured :class:`OAuthTokenClient`, its authorize URL and login
methods) and exposes it as the ``ccproxy.commands`` entry point ``auth.<provider>``: core builds
``ccproxy auth login|status|refresh|logout`` from it, and :class:`OAuthPluginFactory` the auth
provider plugin whose ``oauth.<provider>`` service holds each account's
:meth:`OAuthProvider.token_source`.
"""

from ccproxy.auth.device import PENDING, SLOW_DOWN, DeviceFlowTimeout, Pending
from ccproxy.auth.errors import AuthError, CredentialError, RefreshError, TokenEndpointError
from ccproxy.auth.exchange import ExchangedToken, ExchangedTokenSource, TokenExchange
from ccproxy.auth.login import LoginError, LoginUI, login
from ccproxy.auth.manager import TokenManager
from ccproxy.auth.pkce import PKCEPair, build_authorize_url
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
    "RefreshClient",
    "RefreshError",
    "TokenEndpointError",
    "TokenExchange",
    "TokenManager",
    "TokenReply",
    "UsageHook",
    "build_authorize_url",
    "decode_jwt_claims",
    "jwt_expiry",
    "login",
]
