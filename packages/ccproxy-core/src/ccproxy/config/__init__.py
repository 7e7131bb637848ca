"""Configuration: the settings model and the file/env/CLI loader."""

from ccproxy.config.settings import (
    LOOPBACK_HOSTS,
    HttpSettings,
    LoggingSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
)

__all__ = [
    "LOOPBACK_HOSTS",
    "HttpSettings",
    "LoggingSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
]
