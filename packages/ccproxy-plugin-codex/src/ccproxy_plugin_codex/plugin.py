"""``codex``: the ChatGPT Codex backend as the Responses, Chat Completions and Messages APIs.

Routes under ``/codex`` (all running the core pipeline):

- ``POST /v1/responses`` — native Responses (passthrough), and the Responses WebSocket transport on
  the same path (``ws://.../codex/v1/responses``, see :mod:`ccproxy_plugin_codex.websocket`);
- ``POST /v1/chat/completions`` and ``POST /v1/messages`` — converted to Responses;
- ``POST /v1/messages/count_tokens`` — an offline estimate (core's ``estimated_count_tokens``);
- ``GET /v1/models``, ``HEAD /`` and ``GET /``.

Credentials come from the ``oauth.codex`` service of the ``oauth_codex`` plugin; without it every
request is a 401 in the client's dialect telling the user to run ``ccproxy auth login codex``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket

from ccproxy.plugins import (
    PluginContext,
    PluginManifest,
    ProviderPluginFactory,
    ProviderPluginRuntime,
    TokenSource,
)
from ccproxy.plugins.provider import (
    ProviderAdapter,
    ProviderEndpoint,
    ProviderProfile,
    ResponseStore,
    estimated_count_tokens,
    provider_router,
)
from ccproxy_plugin_codex._version import __version__
from ccproxy_plugin_codex.config import CodexConfig
from ccproxy_plugin_codex.credentials import LOGIN_HINT, PROVIDER, SERVICE_NAME
from ccproxy_plugin_codex.models import CodexModelAliases
from ccproxy_plugin_codex.websocket import ResponsesSocket

if TYPE_CHECKING:
    from ccproxy.plugins import CoreServices

__all__ = [
    "ACCOUNT_HEADER",
    "CodexAdapter",
    "CodexProviderFactory",
    "CodexProviderRuntime",
    "load_profile",
    "provider_factory",
]


ACCOUNT_HEADER = "chatgpt-account-id"


class CodexAdapter(ProviderAdapter):
    """The core pipeline with the Codex backend's edits.

    - ``chatgpt-account-id`` goes with the bearer token (the backend refuses a request without
      it); it is the TokenSource's ``account().id`` (the id token's ``chatgpt_account_id``).
    - Converted requests (Anthropic Messages and Chat Completions clients) get the optional
      ``instructions_file`` text prefixed to their ``instructions`` (the system text). Native
      Responses traffic (the Codex CLI, the ``openai`` SDK's Responses API) stays as sent.
    """

    #: The ``instructions_file`` text; set by the runtime.
    instructions_prefix: str | None = None

    def auth_headers(self, token: str, source: TokenSource) -> dict[str, str]:
        """The bearer token plus ``chatgpt-account-id`` when the account is known."""
        headers = {"authorization": f"Bearer {token}"}
        try:
            account = source.account().id
        except Exception:  # an unreadable file must not hide the token's own error
            account = None
        if account:
            headers[ACCOUNT_HEADER] = account
        return headers

    def edit_upstream_body(self, body: dict[str, Any], *, converted: bool) -> dict[str, Any]:
        """Prefix ``instructions_file`` to the instructions of converted requests."""
        if not converted or not self.instructions_prefix:
            return body
        current = body.get("instructions")
        text = self.instructions_prefix
        if isinstance(current, str) and current.strip():
            text = f"{text.rstrip()}\n\n{current}"
        return {**body, "instructions": text}


def load_profile(overrides: Mapping[str, Any] | None = None) -> ProviderProfile:
    """The shipped ``profile.toml`` with ``plugins.codex.profile`` overrides applied."""
    return ProviderProfile.load("ccproxy_plugin_codex", overrides)


class CodexProviderRuntime(ProviderPluginRuntime):
    """Builds the pipeline (endpoint, aliases, response store, adapter) for one app."""

    adapter: CodexAdapter

    @property
    def config(self) -> CodexConfig:
        """The validated ``plugins.codex`` table."""
        config = self.context.config
        return config if isinstance(config, CodexConfig) else CodexConfig()

    async def _on_initialize(self) -> None:
        config = self.config
        instructions = None
        if config.instructions_file is not None:
            path = config.instructions_file.expanduser()
            try:
                instructions = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise RuntimeError(
                    f"plugins.codex.instructions_file {str(path)!r} cannot be read: "
                    f"{exc.strerror or type(exc).__name__}"
                ) from None
        endpoint = ProviderEndpoint(
            provider=PROVIDER,
            upstream_format="responses",
            base_url=config.base_url,
            path="/responses",
            profile=load_profile(config.profile),
            aliases=CodexModelAliases(
                config.model_aliases,
                claude_model=config.claude_model,
                claude_small_model=config.claude_small_model,
                default_model=config.default_model,
            ),
            stream_only=True,
            login_hint=LOGIN_HINT,
            account_strategy=config.account_strategy,
            allow_overage=config.allow_overage,
        )
        registry = self.context.plugin_registry
        self.adapter = CodexAdapter(
            endpoint,
            self.context,
            # Looked up per request: the auth plugin may start, stop or be swapped independently.
            token_source=lambda: registry.get_service(SERVICE_NAME, TokenSource),
            response_store=ResponseStore(
                max_entries=config.response_store_max_entries,
                ttl_seconds=config.response_store_ttl_seconds,
                state=self.context.shared_state,
            ),
        )
        self.adapter.instructions_prefix = instructions

    def health_details(self) -> dict[str, Any]:
        return {"base_url": self.config.base_url}


class CodexProviderFactory(ProviderPluginFactory):
    """Builds ``codex`` runtimes and mounts the provider routes plus the WebSocket transport."""

    runtime_class = CodexProviderRuntime

    def __init__(self) -> None:
        super().__init__(
            PluginManifest(
                name=PROVIDER,
                version=__version__,
                description="ChatGPT Codex subscription as the Responses, Chat and Messages APIs.",
                is_provider=True,
                optional_requires=[SERVICE_NAME],
                config_class=CodexConfig,
            )
        )

    def create_context(self, core_services: CoreServices) -> PluginContext:
        """The context, with ``router`` (mounted under ``/codex``) set."""
        context = super().create_context(core_services)
        registry = context.plugin_registry

        def adapter() -> ProviderAdapter | None:
            runtime = registry.get_runtime(PROVIDER)
            if isinstance(runtime, CodexProviderRuntime) and runtime.initialized:
                return runtime.adapter
            return None

        def models() -> list[str]:
            found = adapter()
            return found.endpoint.aliases.listed_models() if found is not None else []

        router = provider_router(
            PROVIDER, adapter, models=models, count_tokens=estimated_count_tokens
        )
        max_frame_bytes = context.settings.server.max_request_body_bytes

        @router.websocket("/v1/responses")
        async def responses_socket(websocket: WebSocket) -> None:
            socket = ResponsesSocket(websocket, adapter, max_frame_bytes=max_frame_bytes)
            await socket.serve()

        context["router"] = router
        return context


#: The ``codex`` entry point.
provider_factory = CodexProviderFactory()
