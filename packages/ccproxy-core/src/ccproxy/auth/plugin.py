"""The auth provider plugin of an :class:`OAuthProvider`: ``oauth.<name>`` and its status route.

:class:`OAuthPluginFactory` builds the whole ``auth_provider`` plugin from a description: its
runtime registers the provider's accounts (an :class:`~ccproxy.auth.accounts.AccountDirectory`:
``default`` is the CLI's own credential file, every further account one file in the accounts
folder, each with its own :meth:`OAuthProvider.token_source`) as the ``oauth.<name>`` service,
rescans the files every couple of seconds, reports health (``warn`` without usable credentials:
the proxy still answers, with 401s), and serves ``GET /oauth/<name>/status`` (credential facts
per account and the usage the provider's hook saw; never a token).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ccproxy.auth.accounts import DEFAULT_ACCOUNT, AccountDirectory
from ccproxy.auth.exchange import ExchangedTokenSource
from ccproxy.auth.manager import TokenManager
from ccproxy.auth.provider import OAuthProvider
from ccproxy.plugins import (
    AuthProviderPluginFactory,
    AuthProviderPluginRuntime,
    HealthCheckResult,
    Hook,
    PluginManifest,
    RouteSpec,
    TaskSpec,
    health_result,
    plugin_registry,
)

if TYPE_CHECKING:
    from ccproxy.auth.manager import SharedLock
    from ccproxy.state import SharedState

__all__ = ["OAuthPluginFactory", "OAuthPluginRuntime", "UsageHook"]

#: How often the account files are rescanned (changes are picked up within this long).
RESCAN_SECONDS: Final = 2.0
#: The cross-host refresh lock's lease: a crashed holder's lock frees itself after this long.
#: A refresh under it waits at most 30 s for the file lock and 60 s for the token endpoint.
REFRESH_LOCK_LEASE_SECONDS: Final = 120.0
#: How long a refresh waits for another host's refresh to finish.
REFRESH_LOCK_WAIT_SECONDS: Final = 60.0


def shared_refresh_lock(state: SharedState) -> SharedLock | None:
    """The lock the servers (and ``ccproxy auth refresh``) sharing ``state`` take around a
    refresh; ``None`` when the state is this process's own."""
    if not state.shared:
        return None

    def lock(name: str) -> Any:
        return state.lock(
            name, lease_seconds=REFRESH_LOCK_LEASE_SECONDS, wait_seconds=REFRESH_LOCK_WAIT_SECONDS
        )

    return lock


class UsageHook(Hook, Protocol):
    """A hook that remembers the provider's latest usage windows (from ``REQUEST_COMPLETED``)."""

    def snapshot(self) -> dict[str, Any]:
        """The keys it adds to ``GET /oauth/<name>/status`` (no secret)."""
        ...


class OAuthPluginRuntime(AuthProviderPluginRuntime):
    """One app's ``oauth.<name>`` accounts and usage hook."""

    def __init__(
        self, manifest: PluginManifest, provider: OAuthProvider[Any], usage: UsageHook | None
    ) -> None:
        super().__init__(manifest)
        self.provider = provider
        self.usage = usage
        #: The ``default`` account's source, as started (health and status read it).
        self.token_manager: TokenManager | ExchangedTokenSource | None = None
        #: Every account, rescanned from the files (the ``oauth.<name>`` service).
        self.accounts: AccountDirectory | None = None

    async def _on_initialize(self) -> None:
        context, provider = self.context, self.provider
        config = context.config
        if not isinstance(config, provider.config_class):
            config = provider.config_class()
        shared_lock = shared_refresh_lock(context.shared_state)

        def make_source(name: str, path: Path) -> TokenManager | ExchangedTokenSource:
            return provider.token_source(
                config,
                context.http_client,
                hooks=context.hook_manager,
                logger=context.logger,
                account=name,
                shared_lock=shared_lock,
                path=path,
            )

        self.token_manager = make_source(DEFAULT_ACCOUNT, provider.credentials_path(config))
        self.accounts = AccountDirectory(
            # Looked up at every rescan: a provider may move its default (Copilot prefers its
            # own file, once written, over an editor's login).
            default_file=None
            if self.token_manager.is_static
            else (lambda: provider.credentials_path(config)),
            folder=provider.accounts_folder(config),
            make_source=make_source,
            default=self.token_manager,
        )
        await self.accounts.rescan()
        context.plugin_registry.register_service(
            provider.service, self.accounts, provider_plugin=self.name
        )
        context.scheduler.add_task(
            TaskSpec(f"{self.name}.rescan_accounts", RESCAN_SECONDS, self._rescan),
            plugin=self.name,
        )
        if self.usage is not None:
            context.hook_manager.register(self.usage, plugin=self.name)

    def default_source(self) -> TokenManager | ExchangedTokenSource | None:
        """The ``default`` account's source now (a rewritten file gets a new one), else the
        one started with (it says why there is no credential)."""
        return self._sources().get(DEFAULT_ACCOUNT, self.token_manager)

    def _sources(self) -> dict[str, TokenManager | ExchangedTokenSource]:
        sources = self.accounts.accounts() if self.accounts is not None else {}
        return {name: source for name, source in sources.items() if isinstance(source, _MANAGED)}

    async def _rescan(self) -> None:
        if self.accounts is not None and await self.accounts.rescan():
            self.context.logger.info(
                "accounts_changed",
                provider=self.provider.name,
                accounts=list(self.accounts.accounts()),
            )

    async def _on_shutdown(self) -> None:
        if self.usage is not None:
            self.context.hook_manager.unregister(self.usage)
        self.context.plugin_registry.unregister_service(self.provider.service)

    def status(self) -> dict[str, Any]:
        """Credential facts (``default``'s, and every account's) and the usage the hook saw;
        never a token."""
        manager = self.default_source()
        return {
            "provider": self.provider.name,
            "credentials": manager.status() if manager is not None else {"has_credentials": False},
            "accounts": {name: source.status() for name, source in self._sources().items()},
            **(self.usage.snapshot() if self.usage is not None else {}),
        }

    async def health_check(self) -> HealthCheckResult:
        """``warn`` when no account has usable credentials (requests then get a 401 saying how
        to log in); the details name the default credential and every account."""
        manager = self.default_source()
        if not self.initialized or manager is None:
            return await super().health_check()
        facts = manager.status()
        details = {
            key: facts[key]
            for key in ("source", "path", "account_id", "plan", "expires_at", "refreshable")
            if facts.get(key) is not None
        }
        sources = self._sources()
        details["accounts"] = list(sources)
        if _usable(facts) or any(_usable(source.status()) for source in sources.values()):
            return health_result(
                "pass", component_id=self.name, version=self.manifest.version, details=details
            )
        if not facts.get("has_credentials"):
            where = facts.get("path")
            problem = (
                facts.get("error") or f"no {self.provider.display_name} credentials in {where}"
            )
        else:
            problem = "the access token has expired and cannot be refreshed"
        return health_result(
            "warn",
            component_id=self.name,
            version=self.manifest.version,
            output=f"{problem}; run `{self.provider.login_command}`. Requests to "
            f"/{self.provider.name} answer 401 until then.",
            details=details,
        )


_MANAGED = (TokenManager, ExchangedTokenSource)


def _usable(facts: dict[str, Any]) -> bool:
    exchanged = facts.get("exchanged") or {}
    return (
        bool(facts.get("has_credentials"))
        and not (facts.get("expired") and not facts.get("refreshable"))
        and not exchanged.get("error_lasting")
    )


def _status_router(plugin: str) -> APIRouter:
    router = APIRouter()

    @router.get("/status")
    async def oauth_status(request: Request) -> JSONResponse:
        runtime = plugin_registry(request.app).get_runtime(plugin)
        if not isinstance(runtime, OAuthPluginRuntime) or not runtime.initialized:
            error = {"message": f"the {plugin} plugin is not running", "type": "unavailable"}
            return JSONResponse({"error": error}, status_code=503)
        return JSONResponse(runtime.status())

    return router


class OAuthPluginFactory(AuthProviderPluginFactory):
    """The ``auth_provider`` plugin of ``provider`` (named ``provider.plugin``).

    ``usage`` makes a fresh :class:`UsageHook` per app (``None``: no usage windows).
    """

    def __init__(
        self,
        provider: OAuthProvider[Any],
        *,
        version: str,
        description: str,
        usage: Callable[[], UsageHook] | None = None,
    ) -> None:
        self.provider = provider
        self.usage = usage
        route = RouteSpec(router=_status_router(provider.plugin), prefix=f"/oauth/{provider.name}")
        super().__init__(
            PluginManifest(
                name=provider.plugin,
                version=version,
                description=description,
                is_provider=True,
                provides=[provider.service],
                routes=[route],
                config_class=provider.config_class,
            )
        )

    def create_runtime(self) -> OAuthPluginRuntime:
        """A runtime with its own usage hook."""
        usage = self.usage() if self.usage is not None else None
        return OAuthPluginRuntime(self.manifest, self.provider, usage)
