"""Griffe extension for the API reference: reads ccproxy's docstrings the way they are written.

ccproxy's docstrings are prose in reStructuredText habits, without Google or NumPy sections:

- Sphinx roles (``:class:`~ccproxy.auth.TokenManager```, ``:meth:`lock```) become cross-references.
  The name is resolved from the docstring's own scope as Python would; the link is *optional*:
  a target the reference does not render (an internal module) shows as code instead of failing.
- ``#:`` comments above an attribute (Sphinx's convention) become that attribute's docstring.
- A published module keeps only what its ``__all__`` lists (see ``_prune_to_exports``); which
  class members show is decided by ``filters`` in mkdocs.yml (mirrored by ``_shown``).

It also lists, at the end of loading, every public name of the published modules (see
``API_MODULES`` in api_pages.py) that has no docstring: logged at INFO, so ``mkdocs build
--strict`` shows them without failing; ``CCPROXY_DOCS_REQUIRE_DOCSTRINGS=1`` logs them as
warnings, which fails a strict build.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any

import griffe

_log = logging.getLogger("mkdocs.plugins.griffe_ccproxy")
_ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|attr|data|mod|exc|obj):`(?P<target>[^`]+)`")
#: Modules rendered besides the published ones (the pytest plugin, on the ccproxy.testing page).
EXTRA_RENDERED = ("ccproxy.testing.pytest_plugin",)


def _published_modules() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location(
        "ccproxy_api_pages", Path(__file__).with_name("api_pages.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.API_MODULES)


def _shown(name: str) -> bool:
    """Whether a class member is rendered: the ``filters`` of mkdocs.yml, in Python."""
    if name in {"_on_initialize", "_on_shutdown"}:
        return True
    if name.startswith("__") and name.endswith("__"):
        return name.strip("_") not in {
            "repr",
            "str",
            "post_init",
            "hash",
            "eq",
            "getattr",
            "dir",
            "init",
            "slots",
        }
    return not name.startswith("_") and name != "model_config"


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path of ``target`` as written in ``obj``'s docstring, or None when unknown."""
    if "." in target:
        try:
            return obj.modules_collection.get_member(target).path  # a full path
        except (KeyError, ValueError, AttributeError):
            pass
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except griffe.NameResolutionError:
        return None
    return f"{path}.{rest}" if rest else path


def _role_to_link(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"].strip()
    shown = target.lstrip("~")
    if target.startswith("~"):
        shown = shown.rsplit(".", 1)[-1]
    if match["role"] in {"func", "meth"}:
        shown += "()"
    path = _resolve(obj, target.lstrip("~"))
    if path is None:
        _log.info("griffe_ccproxy: %s: %s not resolved, shown as code", obj.path, match[0])
        return f"`{shown}`"
    return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'


def _comment_docstring(attr: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's assignment, if any."""
    if attr.lineno is None or not isinstance(attr.filepath, Path):
        return None
    if attr.filepath not in attr.lines_collection:
        return None
    lines = attr.lines_collection[attr.filepath]
    found: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(found) or None


def _prune_to_exports(module: griffe.Module) -> None:
    """Drop what a published module defines outside its ``__all__`` (``__getattr__``, pytest
    hooks, ``_LAZY`` tables): the reference renders ``__all__`` only. Imports and submodules stay,
    other objects may point at them; the template shows an import only when ``__all__`` lists it.
    """
    exports = set(module.exports or ())
    for name, member in list(module.members.items()):
        if not member.is_alias and not member.is_module and name not in exports:
            del module.members[name]


def _public_names(module: griffe.Module) -> list[tuple[str, griffe.Object | griffe.Alias | None]]:
    """(shown path, target) for each name of ``module.__all__`` and its classes' public members."""
    found: list[tuple[str, griffe.Object | griffe.Alias | None]] = []
    for name in module.exports or ():
        member = module.members.get(name)
        if member is None:
            found.append((f"{module.path}.{name}", None))
            continue
        try:
            target = member.final_target if member.is_alias else member
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        found.append((f"{module.path}.{name}", target))
        if target.is_class:
            for child_name, child in target.members.items():
                if child.is_alias or child.inherited or not _shown(child_name):
                    continue
                found.append((f"{module.path}.{name}.{child_name}", child))
    return found


class CcproxyDocstrings(griffe.Extension):
    """See the module docstring."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "ccproxy":
            return
        for obj in _walk(pkg):
            if obj.is_attribute and obj.docstring is None:
                text = _comment_docstring(obj)
                if text:
                    obj.docstring = griffe.Docstring(text, parent=obj)
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = _ROLE.sub(
                    lambda m, o=obj: _role_to_link(o, m), obj.docstring.value
                )
        modules = [*_published_modules(), *EXTRA_RENDERED]
        for module_path in modules:
            _prune_to_exports(pkg.modules_collection.get_member(module_path))
        self._report_missing(pkg, modules)

    def _report_missing(self, pkg: griffe.Module, modules: list[str]) -> None:
        strict = os.environ.get("CCPROXY_DOCS_REQUIRE_DOCSTRINGS", "").lower() in {
            "1",
            "true",
            "yes",
        }
        level = logging.WARNING if strict else logging.INFO
        names: list[str] = []  # modules, __all__ names, and methods/properties of classes
        fields: dict[str, list[str]] = {}  # attributes of classes, grouped by class
        for module_path in modules:
            module = pkg.modules_collection.get_member(module_path)
            if module.docstring is None:
                names.append(module_path)
            for shown, obj in _public_names(module):
                if obj is not None and obj.docstring and obj.docstring.value.strip():
                    continue
                owner, _, name = shown.rpartition(".")
                if obj is not None and obj.is_attribute and owner not in modules:
                    fields.setdefault(owner, []).append(name)
                else:
                    names.append(shown)
        for shown in names:
            _log.log(level, "griffe_ccproxy: no docstring: %s", shown)
        for owner, attributes in fields.items():
            _log.log(
                level,
                "griffe_ccproxy: no docstring: %s attributes %s",
                owner,
                ", ".join(attributes),
            )
        count = len(names) + sum(map(len, fields.values()))
        _log.info("griffe_ccproxy: %d public names without a docstring", count)
