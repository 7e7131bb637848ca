"""``OAuthProvider``: what a plugin describes so that core runs its logins and credential.

A provider plugin subclasses :class:`OAuthProvider` with its facts (names, endpoints through its
configuration, credential file and format, token client, authorize URL, login methods) and
exposes an instance as its ``ccproxy.commands`` entry point ``auth.<name>``. Core then builds
``ccproxy auth login|status|refresh|logout <name>`` from it (one wording for every provider) and
the plugin's runtime gets its ``oauth.<name>`` ``TokenSource`` from :meth:`token_source`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from ccproxy.auth.accounts import DEFAULT_ACCOUNT, accounts_folder, valid_account_name
from ccproxy.auth.device import Pending
from ccproxy.auth.exchange import ExchangedTokenSource
from ccproxy.auth.manager import TokenManager
from ccproxy.auth.pkce import PKCEPair
from ccproxy.auth.store import CredentialFile
from ccproxy.auth.tokens import CredentialFormat, Credentials, TokenReply

if TYPE_CHECKING:
    import httpx
    from structlog.stdlib import BoundLogger

    from ccproxy.auth.exchange import TokenExchange
    from ccproxy.auth.manager import SharedLock
    from ccproxy.auth.token_client import OAuthTokenClient
    from ccproxy.hooks import HookManager

__all__ = [
    "AuthorizationCode",
    "AuthorizeRequest",
    "CallbackSpec",
    "DeviceAuthorization",
    "LoginMethod",
    "LoginOption",
    "OAuthProvider",
]

ConfigT = TypeVar("ConfigT")


class LoginMethod(StrEnum):
    """How ``ccproxy auth login`` obtains the authorization code."""

    CALLBACK = "callback"
    """The browser is redirected to a loopback server core runs during the login."""
    PASTE = "paste"
    """The user pastes the ``CODE#STATE`` the provider's redirect page shows."""
    DEVICE = "device"
    """The user enters a code on another device while the CLI polls (headless machines)."""


@dataclass(frozen=True)
class CallbackSpec:
    """Where the loopback redirect lands: the first free port of ``ports`` (0: any), ``path``.

    ``foreign_state`` is what that server does with a redirect of another login: ``"ignore"``
    keeps waiting, ``"deliver"`` ends the login with an error.
    """

    ports: tuple[int, ...] = (0,)
    path: str = "/callback"
    foreign_state: Literal["ignore", "deliver"] = "ignore"


@dataclass(frozen=True)
class LoginOption:
    """A provider's own ``--<name>`` flag of ``ccproxy auth login`` (e.g. Claude's ``--console``);
    the flags given reach :meth:`OAuthProvider.authorize_url` in ``AuthorizeRequest.options``."""

    name: str
    help: str


@dataclass(frozen=True, repr=False)
class AuthorizeRequest:
    """One login attempt's facts for the authorize URL. ``repr`` hides the verifier."""

    redirect_uri: str
    state: str
    pkce: PKCEPair
    options: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeviceAuthorization:
    """A started device login: the page, the code the user types there, the poll interval.

    ``handle`` is whatever the provider needs to poll (its device id); never printed.
    """

    verification_url: str
    user_code: str
    interval: float
    handle: Any = field(default=None, repr=False)


@dataclass(frozen=True, repr=False)
class AuthorizationCode:
    """An authorization code ready for the exchange (``repr`` shows neither secret)."""

    code: str
    verifier: str
    redirect_uri: str


class OAuthProvider(Generic[ConfigT]):
    """A provider's OAuth facts; subclass it, set the class attributes, fill in the methods.

    Required: the class attributes without defaults, :meth:`credentials_path`,
    :meth:`credential_format`, :meth:`token_client` and :meth:`authorize_url` (unless the only
    login method is ``DEVICE``). The rest have working defaults. ``ConfigT`` is the plugin's
    configuration model (``plugins.<plugin>.*``).
    """

    name: ClassVar[str]
    """The provider: ``ccproxy auth login <name>``, the ``oauth.<name>`` service."""
    display_name: ClassVar[str]
    """How messages name it: ``"Claude"``, ``"Codex (ChatGPT)"``."""
    plugin: ClassVar[str]
    """The auth provider plugin whose settings (``plugins.<plugin>.*``) configure it."""
    config_class: type[ConfigT]
    """The model ``plugins.<plugin>`` is validated with."""
    credentials_key: ClassVar[str]
    """The top-level key of the credential file holding the tokens (logout removes only it)."""
    file_owner: ClassVar[str]
    """The program the credential file belongs to, for messages: ``"Claude Code"``."""
    login_methods: ClassVar[tuple[LoginMethod, ...]] = (LoginMethod.CALLBACK,)
    """The login methods offered; the first is the default, each other one gets a flag."""
    login_options: ClassVar[tuple[LoginOption, ...]] = ()
    """The provider's own login flags."""
    static_token_hint: ClassVar[str] = "configure a new one when it expires"  # nosec B105 # advice
    """How to get a new long-lived token, when :meth:`static_token` can return one."""

    @property
    def service(self) -> str:
        """``oauth.<name>``: the ``TokenSource`` service of the auth provider plugin."""
        return f"oauth.{self.name}"

    @property
    def status_path(self) -> str:
        """``/oauth/<name>/status``: where the running server reports the credential."""
        return f"/oauth/{self.name}/status"

    @property
    def login_command(self) -> str:
        """``ccproxy auth login <name>``."""
        return f"ccproxy auth login {self.name}"

    # what each provider supplies ----------------------------------------------------------

    def credentials_path(self, config: ConfigT) -> Path:
        """The credential file (``~`` expanded)."""
        raise NotImplementedError

    def credential_format(self) -> CredentialFormat:
        """How the credential file stores tokens."""
        raise NotImplementedError

    def token_client(self, config: ConfigT, http: httpx.AsyncClient) -> OAuthTokenClient:
        """The token endpoint client (code exchange and refresh)."""
        raise NotImplementedError

    def authorize_url(self, config: ConfigT, request: AuthorizeRequest) -> str:
        """The URL the user opens to authorize (see :func:`~ccproxy.auth.build_authorize_url`)."""
        raise NotImplementedError

    def refresh_margin(self, config: ConfigT) -> float:
        """Seconds before expiry when the access token is refreshed."""
        return 300.0

    def static_token(self, config: ConfigT) -> tuple[str | None, str]:
        """A configured long-lived token and where it came from (``"env:NAME"``), which then wins
        over the file and is never refreshed; ``(None, "")`` when there is none."""
        return None, ""

    def redirect_uri(self, config: ConfigT) -> str:
        """The redirect of a ``PASTE`` login (the provider's page that shows ``CODE#STATE``)."""
        raise NotImplementedError

    def callback(self, config: ConfigT) -> CallbackSpec:
        """Where a ``CALLBACK`` login listens."""
        return CallbackSpec()

    def login_timeout(self, config: ConfigT, method: LoginMethod) -> float:
        """Seconds a login waits for the redirect, the pasted code or the device approval."""
        return 300.0

    def account_from_reply(self, reply: TokenReply) -> str | None:
        """The account a login's token reply names, when the credential format cannot tell."""
        return None

    async def start_device_login(
        self, config: ConfigT, http: httpx.AsyncClient
    ) -> DeviceAuthorization:
        """``DEVICE``: ask for a user code."""
        raise NotImplementedError

    async def poll_device_login(
        self, config: ConfigT, http: httpx.AsyncClient, device: DeviceAuthorization
    ) -> AuthorizationCode | TokenReply | Pending:
        """``DEVICE``: one poll; :data:`~ccproxy.auth.PENDING` until the user approved.

        The approval is an :class:`AuthorizationCode` to exchange, or (RFC 8628 §3.5: the token
        endpoint answers the device grant itself) the :class:`~ccproxy.auth.TokenReply` to store.
        """
        raise NotImplementedError

    async def revoke(
        self, config: ConfigT, http: httpx.AsyncClient, credentials: Credentials
    ) -> list[str]:
        """Revoke the tokens at logout, best effort; one line per outcome (no secret)."""
        return []

    def shared_with(self, config: ConfigT, path: Path) -> str | None:
        """The program that also uses the credential file ``path`` (messages then say that a
        login or logout there is its too); ``None`` for a file ccproxy alone uses. Default:
        :attr:`file_owner` for the default account's file, ``None`` for other accounts' files."""
        return self.file_owner if path == self.credentials_path(config) else None

    def read_only(self, config: ConfigT, path: Path) -> bool:
        """Whether ``path`` is another program's login that ccproxy only reads: a login never
        writes it and a logout leaves it in place (saying so). Default: ``False``."""
        return False

    def token_exchange(self, config: ConfigT, http: httpx.AsyncClient) -> TokenExchange | None:
        """The exchange that turns the stored token into the token the provider's API takes,
        for a provider whose API wants a short-lived derived token; ``None`` (the default): the
        stored token is used as is. See :class:`~ccproxy.auth.ExchangedTokenSource`."""
        return None

    def exchange_margin(self, config: ConfigT) -> float:
        """Seconds before an exchanged token's expiry when it is exchanged again."""
        return 180.0

    async def account_lines(
        self, config: ConfigT, http: httpx.AsyncClient, credentials: Credentials
    ) -> list[str]:
        """Lines ``ccproxy auth status`` shows under an account, which the provider fetches
        itself with the stored ``credentials`` (its user, plan, quota); never a secret, and
        a line saying why when the fetch fails. Default: none."""
        return []

    def window_lines(self, server_status: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """The usage windows in the running server's status body, and when they were seen."""
        return [], None

    def accounts_folder(self, config: ConfigT) -> Path:
        """Where the further accounts' files live: ``$XDG_CONFIG_HOME/ccproxy/accounts/<name>``."""
        return accounts_folder(self.name)

    # built from the above -----------------------------------------------------------------

    def account_path(self, config: ConfigT, account: str = "default") -> Path:
        """The credential file of ``account``: the CLI's own for ``default``, else
        ``<accounts folder>/<account>.json`` (``ValueError`` for an invalid name)."""
        if account == DEFAULT_ACCOUNT:
            return self.credentials_path(config)
        if not valid_account_name(account):
            raise ValueError(
                f"invalid account name {account!r}: use lower-case letters, digits, '.', '_' "
                "and '-' (at most 64)"
            )
        return self.accounts_folder(config) / f"{account}.json"

    def token_source(
        self,
        config: ConfigT,
        http: httpx.AsyncClient,
        *,
        hooks: HookManager | None = None,
        logger: BoundLogger | None = None,
        use_static_token: bool = True,
        account: str = "default",
        shared_lock: SharedLock | None = None,
        path: Path | None = None,
    ) -> TokenManager | ExchangedTokenSource:
        """The ``TokenSource`` the provider's requests use for ``account``: the file's
        :meth:`token_manager`, wrapped in an :class:`~ccproxy.auth.ExchangedTokenSource` when
        the provider has a :meth:`token_exchange`."""
        manager = self.token_manager(
            config,
            http,
            hooks=hooks,
            logger=logger,
            use_static_token=use_static_token,
            account=account,
            shared_lock=shared_lock,
            path=path,
        )
        exchange = self.token_exchange(config, http)
        if exchange is None:
            return manager
        return ExchangedTokenSource(
            manager,
            exchange,
            refresh_margin_seconds=self.exchange_margin(config),
            hooks=hooks,
            logger=logger,
        )

    def token_manager(
        self,
        config: ConfigT,
        http: httpx.AsyncClient,
        *,
        hooks: HookManager | None = None,
        logger: BoundLogger | None = None,
        use_static_token: bool = True,
        account: str = "default",
        shared_lock: SharedLock | None = None,
        path: Path | None = None,
    ) -> TokenManager:
        """The ``TokenSource`` of ``account`` for ``config``, refreshing through ``http``.

        ``use_static_token=False`` manages the file even when a long-lived token is configured
        (a login writes the file whatever else is set); a static token only ever stands for
        ``default``. ``shared_lock`` serialises refreshes across hosts.
        """
        use_static_token = use_static_token and account == DEFAULT_ACCOUNT
        token, source = self.static_token(config) if use_static_token else (None, "")
        return TokenManager(
            CredentialFile(path if path is not None else self.account_path(config, account)),
            self.credential_format(),
            self.token_client(config, http),
            provider=self.name,
            refresh_margin_seconds=self.refresh_margin(config),
            hooks=hooks,
            logger=logger,
            static_token=token,
            static_source=source or "static",
            account=account,
            shared_lock=shared_lock,
        )
