"""What a plugin declares about itself: the manifest and the specs it carries.

A manifest is static: the core reads it before the plugin runs, to decide whether and in what
order to start it, and wires everything it declares (routes, mounts, middleware, hooks, tasks).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.types import ASGIApp

__all__ = [
    "HookSpec",
    "MiddlewareLayer",
    "MiddlewareSpec",
    "MountSpec",
    "PluginManifest",
    "RouteSpec",
    "TaskSpec",
]

_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class MiddlewareLayer(IntEnum):
    """Where a middleware sits in the stack; lower layers run first (outermost)."""

    SECURITY = 100
    OBSERVABILITY = 200
    TRANSFORMATION = 300
    ROUTING = 400
    APPLICATION = 500


@dataclass(frozen=True)
class RouteSpec:
    """An ``APIRouter`` mounted under ``prefix`` (``None`` means ``/<plugin name>``)."""

    router: APIRouter
    prefix: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MountSpec:
    """An ASGI sub-application mounted at ``path``.

    FastAPI does not run a mounted app's lifespan: the plugin's runtime enters whatever the
    sub-app needs in ``_on_initialize`` and leaves it in ``_on_shutdown``.
    """

    path: str
    app: ASGIApp
    name: str | None = None


@dataclass(frozen=True)
class MiddlewareSpec:
    """An ASGI middleware class, instantiated as ``middleware_class(app, **kwargs)``."""

    middleware_class: type[Any]
    priority: int = MiddlewareLayer.APPLICATION
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HookSpec:
    """A hook instantiated per app as ``hook_class(**kwargs)`` and registered for its events."""

    hook_class: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    """A periodic job: ``task()`` every ``interval_seconds``.

    ``initial_delay_seconds=None`` means the first run comes one interval after start-up.
    Failures back off exponentially (doubling the wait) up to the scheduler's cap.
    """

    name: str
    interval_seconds: float
    task: Callable[[], Awaitable[None]]
    initial_delay_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError(f"task {self.name!r}: interval_seconds must be positive")
        if self.initial_delay_seconds is not None and self.initial_delay_seconds < 0:
            raise ValueError(f"task {self.name!r}: initial_delay_seconds must not be negative")


@dataclass
class PluginManifest:
    """The static declaration of a plugin.

    ``requires`` are hard: a plugin whose required service no loaded plugin provides is not
    started. ``optional_requires`` only order start-up. ``requires_core`` is a PEP 440 specifier
    for local plugins (installed ones declare their core range in package metadata).
    """

    name: str
    version: str = "0.0.0"
    description: str = ""
    is_provider: bool = False
    provides: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    optional_requires: list[str] = field(default_factory=list)
    middleware: list[MiddlewareSpec] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)
    hooks: list[HookSpec] = field(default_factory=list)
    config_class: type[BaseModel] | None = None
    requires_core: str | None = None
    #: Exact paths answered to GET/HEAD without ``security.auth_token`` — only for content that
    #: carries no data (a login page and its script). Host and Origin checks still apply.
    public_paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _PLUGIN_NAME.fullmatch(self.name):
            raise ValueError(
                f"plugin name {self.name!r} must be lower case letters, digits and underscores, "
                "starting with a letter"
            )
        if self.config_class is not None and not (
            isinstance(self.config_class, type) and issubclass(self.config_class, BaseModel)
        ):
            raise TypeError(
                f"plugin {self.name!r}: config_class must be a pydantic BaseModel subclass"
            )
