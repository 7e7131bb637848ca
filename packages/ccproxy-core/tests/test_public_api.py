"""The public API changes only on purpose: these lists are the contract plugin authors rely on."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ccproxy
import ccproxy.plugins

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


#: The public API of ccproxy-core: plugins import these modules and nothing else of core.
PUBLIC_MODULES = (
    "ccproxy",
    "ccproxy.plugins",
    "ccproxy.plugins.provider",
    "ccproxy.plugins.cli",
    "ccproxy.auth",
    "ccproxy.testing",
)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_resolves_and_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    assert module.__doc__, f"{module_name} has no docstring"
    undocumented = []
    for name in exported:
        value = getattr(module, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            undocumented.append(name)
    assert undocumented == []


def test_plugin_api_names_what_plugins_need_and_no_host_internals() -> None:
    exported = set(ccproxy.plugins.__all__)
    # Typed hook events, one frozen payload class per event, are part of the contract.
    assert {
        "HookPayload",
        "RequestCompleted",
        "ProviderStreamChunk",
        "AuthTokenRefreshed",
    } <= exported
    # The host's own machinery is not.
    assert not exported & {"CONTEXT_KEYS", "PluginRecord", "PluginHost", "HookContext"}


def test_auth_api_names_no_login_machinery() -> None:
    """Core runs the login from a plugin's ``OAuthProvider``; its machinery stays internal."""
    import ccproxy.auth

    exported = set(ccproxy.auth.__all__)
    assert {"OAuthProvider", "OAuthTokenClient", "TokenManager", "PKCEPair", "LoginError"} <= (
        exported
    )
    machinery = {
        "CallbackResult",
        "CallbackServer",
        "PortsBusyError",
        "PollResult",
        "poll_until",
        "parse_pasted_code",
        "generate_state",
        "credentials_from_reply",
    }
    assert not exported & machinery
    assert not machinery & set(vars(ccproxy.auth))


def test_plugin_api_reexports_exactly_the_hooks_module_api() -> None:
    import ccproxy.hooks

    # ccproxy.plugins keeps its own list so that importing it does not import ccproxy.hooks.
    assert tuple(ccproxy.hooks.__all__) == ccproxy.plugins._HOOKS
    assert set(ccproxy.plugins._HOOKS) <= set(ccproxy.plugins.__all__)


def test_importing_the_plugin_api_imports_none_of_its_modules() -> None:
    code = "import sys, ccproxy.plugins; print(sorted(m for m in sys.modules if 'ccproxy' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['ccproxy', 'ccproxy._version', 'ccproxy.plugins']"


def test_top_level_exports_resolve_lazily() -> None:
    assert sorted(ccproxy.__all__) == [
        "Settings",
        "__version__",
        "create_app",
        "get_plugin_logger",
        "initialize_plugins_startup",
    ]
    for name in ccproxy.__all__:
        assert getattr(ccproxy, name) is not None


def test_version_module_matches_pyproject() -> None:
    pyproject = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == ccproxy.__version__


def test_hook_event_values_are_stable() -> None:
    from ccproxy.plugins import HookEvent

    assert [e.name for e in HookEvent] == [
        "APP_STARTUP",
        "APP_SHUTDOWN",
        "PLUGIN_LOADED",
        "PLUGIN_FAILED",
        "REQUEST_STARTED",
        "PROVIDER_REQUEST_PREPARED",
        "PROVIDER_REQUEST_SENT",
        "PROVIDER_RESPONSE_RECEIVED",
        "PROVIDER_STREAM_START",
        "PROVIDER_STREAM_CHUNK",
        "PROVIDER_STREAM_END",
        "PROVIDER_ERROR",
        "AUTH_TOKEN_REFRESHED",
        "AUTH_FAILED",
        "REQUEST_COMPLETED",
        "REQUEST_FAILED",
    ]
