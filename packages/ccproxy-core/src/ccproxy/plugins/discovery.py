"""Finding plugins: installed entry points and local plugin directories.

Everything here is decided before a plugin is imported where possible: names, enablement and the
core version range declared in a distribution's metadata.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ccproxy.plugins.factory import PluginFactory

if TYPE_CHECKING:
    from ccproxy.config import Settings

__all__ = [
    "COMMANDS_GROUP",
    "CORE_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "EntryPointLike",
    "PluginCandidate",
    "candidates_from_directories",
    "candidates_from_entry_points",
    "core_range_problem",
    "default_plugin_dirs",
    "disabled_reason",
    "discover_candidates",
    "installed_entry_points",
    "resolve_factory",
]

ENTRY_POINT_GROUP = "ccproxy.plugins"
COMMANDS_GROUP = "ccproxy.commands"
CORE_DISTRIBUTION = "ccproxy-core"


class DistributionLike(Protocol):
    """The part of ``importlib.metadata.Distribution`` discovery reads."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def requires(self) -> list[str] | None: ...


class EntryPointLike(Protocol):
    """The part of ``importlib.metadata.EntryPoint`` discovery reads (tests pass fakes)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def dist(self) -> DistributionLike | None: ...

    def load(self) -> Any: ...


@dataclass(frozen=True)
class PluginCandidate:
    """A plugin found but not yet imported."""

    name: str
    source: Literal["entry_point", "local"]
    location: str
    loader: Callable[[], Any]
    distribution: str | None = None
    distribution_version: str | None = None
    core_requirement: str | None = None


def installed_entry_points() -> list[EntryPointLike]:
    """The installed ``ccproxy.plugins`` entry points."""
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def core_requirement_of(dist: DistributionLike | None) -> str | None:
    """The ``ccproxy-core`` specifier a distribution declares (``None`` when it declares none)."""
    if dist is None:
        return None
    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        return str(requirement.specifier)
    return None


def candidates_from_entry_points(entry_points: Iterable[EntryPointLike]) -> list[PluginCandidate]:
    """One candidate per entry point (the first of duplicate names wins)."""
    found: dict[str, PluginCandidate] = {}
    for ep in entry_points:
        if ep.name in found:
            continue
        dist = ep.dist
        found[ep.name] = PluginCandidate(
            name=ep.name,
            source="entry_point",
            location=ep.value,
            loader=ep.load,
            distribution=dist.name if dist is not None else None,
            distribution_version=dist.version if dist is not None else None,
            core_requirement=core_requirement_of(dist),
        )
    return list(found.values())


def default_plugin_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """``./plugins`` and ``$XDG_CONFIG_HOME/ccproxy/plugins``."""
    from ccproxy.config.settings import default_plugin_dirs as defaults

    return defaults(env)


def candidates_from_directories(directories: Iterable[Path]) -> list[PluginCandidate]:
    """Each subfolder with a ``plugin.py`` is a candidate named after the folder."""
    found: dict[str, PluginCandidate] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for folder in sorted(directory.iterdir()):
            plugin_file = folder / "plugin.py"
            if folder.name in found or not plugin_file.is_file():
                continue
            found[folder.name] = PluginCandidate(
                name=folder.name,
                source="local",
                location=str(plugin_file),
                loader=_local_loader(folder.name, plugin_file),
            )
    return list(found.values())


def _local_loader(name: str, plugin_file: Path) -> Callable[[], Any]:
    def load() -> Any:
        module_name = f"ccproxy_local_plugins.{name}"
        spec = importlib.util.spec_from_file_location(module_name, plugin_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {plugin_file}")
        module = importlib.util.module_from_spec(spec)
        # Registered so that pydantic and dataclasses can resolve the module's annotations.
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        if not hasattr(module, "factory"):
            raise ImportError(f"{plugin_file} does not export 'factory'")
        return module.factory

    return load


def discover_candidates(
    settings: Settings,
    *,
    entry_points: Iterable[EntryPointLike] | None = None,
    plugin_dirs: Iterable[Path] | None = None,
) -> list[PluginCandidate]:
    """Entry points merged with local directories (local wins on a name clash), sorted by name."""
    merged: dict[str, PluginCandidate] = {}
    eps = installed_entry_points() if entry_points is None else entry_points
    for candidate in candidates_from_entry_points(eps):
        merged[candidate.name] = candidate
    if not settings.plugins_disable_local_discovery:
        dirs = list(plugin_dirs) if plugin_dirs is not None else settings.local_plugin_dirs()
        for candidate in candidates_from_directories(dirs):
            merged[candidate.name] = candidate
    return [merged[name] for name in sorted(merged)]


def disabled_reason(name: str, settings: Settings) -> str | None:
    """Why configuration keeps ``name`` from loading, or ``None`` when it may load.

    ``plugins.<name>.enabled`` decides when set; otherwise ``disabled_plugins``, then the
    ``enabled_plugins`` allow list.
    """
    flag = settings.plugin_enabled_flag(name)
    if flag is True:
        return None
    if flag is False:
        return f"disabled by plugins.{name}.enabled = false"
    if name in settings.disabled_plugins:
        return "disabled by disabled_plugins"
    if settings.enabled_plugins is not None and name not in settings.enabled_plugins:
        return "not listed in enabled_plugins"
    return None


def core_range_problem(specifier: str | None, core_version: str) -> str | None:
    """Why a plugin's core range excludes ``core_version``, or ``None`` when it admits it."""
    if not specifier:
        return None
    try:
        admits = SpecifierSet(specifier).contains(Version(core_version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion) as exc:
        return f"has an invalid ccproxy-core requirement {specifier!r}: {exc}"
    if admits:
        return None
    return f"requires ccproxy-core{specifier}, but ccproxy-core {core_version} is installed"


def resolve_factory(obj: Any) -> PluginFactory:
    """An entry point's object: a ``PluginFactory`` or a callable returning one."""
    if isinstance(obj, PluginFactory):
        return obj
    if callable(obj):
        produced = obj()
        if isinstance(produced, PluginFactory):
            return produced
        raise TypeError(f"callable returned {type(produced).__name__}, not a PluginFactory")
    raise TypeError(f"{type(obj).__name__} is not a PluginFactory or a callable returning one")
