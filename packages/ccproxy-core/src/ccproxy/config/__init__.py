"""Configuration: the settings model and the file/env/CLI loader."""

from ccproxy.config.loader import (
    ConfigSources,
    SettingsError,
    find_config_file,
    load_settings,
    parse_assignment,
)
from ccproxy.config.settings import (
    LOOPBACK_HOSTS,
    HttpSettings,
    LoggingSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
    StateSettings,
)
from ccproxy.config.types import HttpUrlStr, check_http_url

__all__ = [
    "LOOPBACK_HOSTS",
    "ConfigSources",
    "HttpSettings",
    "HttpUrlStr",
    "LoggingSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "StateSettings",
    "check_http_url",
    "find_config_file",
    "load_settings",
    "parse_assignment",
]
