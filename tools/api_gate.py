"""The public API gate of the workspace packages (``nox -s api``; issue #14).

Each package lists its public modules in its ``pyproject.toml``::

    [tool.ccproxy.api]
    modules = ["ccproxy", "ccproxy.plugins"]

For every such module griffe reads the sources (statically, nothing is imported) and records the
names in its ``__all__``: classes with their public members (names without a leading underscore,
and special methods such as ``__init__``), functions with their parameters and return annotation,
attributes with their annotation. Docstrings, values of attributes, file paths and line numbers are
left out, so the snapshot, ``packages/<dir>/api.json``, changes only when the API does. Names
re-exported from another distribution (core, pydantic, the standard library) are recorded by name
and target only.

The current API is compared with that snapshot by griffe's ``find_breaking_changes``:

* no difference: pass;
* additions and compatible changes: pass and rewrite the snapshot (to commit);
* a removal or an incompatible change: fail, unless a commit since the snapshot was last
  committed, touching the package, is marked breaking (``feat(core)!: ...`` or a
  ``BREAKING CHANGE:`` footer); then pass and rewrite the snapshot.

Under CI (``CI=true``) or with ``--check`` nothing is written: a stale snapshot is only a notice.
Once the package has a release tag (``<distribution>-v<version>``) the API is also compared with
the snapshot at that tag: breaking changes since the release need a breaking commit since it, so
that the next release is a major one.

Usage: ``python tools/api_gate.py [--root DIR] [--check] [DISTRIBUTION ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import griffe

SNAPSHOT_NAME = "api.json"
SNAPSHOT_FORMAT = 1
GIT_TIMEOUT = 30

# `type(scope)!: subject` in a conventional commit subject, or a BREAKING CHANGE footer.
_BREAKING_SUBJECT = re.compile(r"^\w+(?:\([^)]*\))?!: ")
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ", re.MULTILINE)


class GateError(Exception):
    """A configuration or source problem that stops the gate before any comparison."""


@dataclass(frozen=True)
class Package:
    """A workspace distribution and the public modules its ``pyproject.toml`` declares."""

    name: str
    directory: Path  # relative to the repository root: packages/<dir>
    modules: tuple[str, ...]

    @property
    def snapshot(self) -> Path:
        return self.directory / SNAPSHOT_NAME

    @property
    def tops(self) -> set[str]:
        """The top-level import packages the distribution's public modules live in."""
        return {m.split(".")[0] for m in self.modules}


@dataclass
class Verdict:
    """What the gate found for one package, and whether it passes."""

    package: Package
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    write: bool = False


# --- reading the workspace ---------------------------------------------------------------------


def read_packages(root: Path) -> list[Package]:
    """Every ``packages/*/pyproject.toml`` with its ``[tool.ccproxy.api] modules``."""
    packages = []
    for pyproject in sorted(root.glob("packages/*/pyproject.toml")):
        with pyproject.open("rb") as f:
            data = tomllib.load(f)
        name = data["project"]["name"]
        modules = data.get("tool", {}).get("ccproxy", {}).get("api", {}).get("modules")
        if not modules or not all(isinstance(m, str) for m in modules):
            raise GateError(
                f"{name}: {pyproject.relative_to(root)} declares no public modules; add"
                ' [tool.ccproxy.api] modules = ["<import name>", ...]'
            )
        packages.append(Package(name, pyproject.parent.relative_to(root), tuple(modules)))
    return packages


def _load_sources(root: Path, packages: Iterable[Package]) -> griffe.ModulesCollection:
    """Load the declared modules' top-level packages from every ``packages/*/src`` (statically)."""
    search_paths = [str(p) for p in sorted(root.glob("packages/*/src"))]
    loader = griffe.GriffeLoader(search_paths=search_paths)
    for top in sorted({m.split(".")[0] for p in packages for m in p.modules}):
        # A missing one is reported below, naming the package that declares it.
        with contextlib.suppress(ModuleNotFoundError):
            loader.load(top)
    # External: bases and re-exports may live in another workspace package (core).
    loader.resolve_aliases(implicit=False, external=True)
    return loader.modules_collection


# --- the snapshot: a JSON tree griffe's decoder can read back ------------------------------------


def dump_package(root: Path, package: Package) -> dict[str, Any]:
    """The public API of ``package`` as a snapshot (see :func:`render`)."""
    return dump_packages(root, [package])[package.name]


def dump_packages(root: Path, packages: list[Package]) -> dict[str, dict[str, Any]]:
    """Snapshots of several packages, from one griffe load (a plugin's bases live in core)."""
    collection = _load_sources(root, packages)
    snapshots = {}
    for package in packages:
        modules = []
        for path in package.modules:
            try:
                module = collection.get_member(path)
            except KeyError:
                module = None
            if module is None or not module.is_module:
                raise GateError(
                    f"{package.name}: {package.directory / 'pyproject.toml'} declares the public"
                    f" module {path!r} ([tool.ccproxy.api] modules), which does not exist"
                )
            modules.append(_dump_module(package, module, name=path))
        snapshots[package.name] = {
            "distribution": package.name,
            "format": SNAPSHOT_FORMAT,
            "modules": modules,
        }
    return snapshots


def _dump_module(package: Package, module: griffe.Object, *, name: str) -> dict[str, Any]:
    exports = module.exports
    if exports is None:
        raise GateError(f"{package.name}: public module {module.path} has no __all__")
    members = []
    for export in sorted({str(e) for e in exports}):
        if export not in module.members:
            raise GateError(
                f"{package.name}: {module.path}.__all__ names {export!r}, which griffe cannot find"
                " in the module's source (a lazy export needs its import under"
                " `if TYPE_CHECKING:`)"
            )
        members.append(_dump_object(package, module.members[export], name=export))
    return {"kind": "module", "name": name, "members": members}


def _dump_object(
    package: Package, obj: griffe.Object | griffe.Alias, *, name: str
) -> dict[str, Any]:
    """One public object under the name it is exported as; aliases are followed, so moving a
    definition to another module leaves the snapshot alone."""
    try:
        target = obj.final_target if isinstance(obj, griffe.Alias) else obj
    except griffe.AliasResolutionError:
        target = None
    if target is None or target.path.split(".")[0] not in package.tops:
        # A re-export from another distribution (core, pydantic, the standard library): its
        # shape is that project's API, and would change with its version; the name is ours.
        # The path as imported: where the target really lives may differ between its versions.
        assert isinstance(obj, griffe.Alias)
        return {"name": name, "kind": "alias", "target_path": obj.target_path}
    labels = sorted(target.labels)
    if isinstance(target, griffe.Class):
        return {
            "kind": "class",
            "name": name,
            "bases": [str(b) for b in target.bases],
            "labels": labels,
            "members": [
                _dump_object(package, member, name=member_name)
                for member_name, member in sorted(_class_members(package, target).items())
            ],
        }
    if isinstance(target, griffe.Function):
        return {
            "kind": "function",
            "name": name,
            "labels": labels,
            "parameters": [
                {
                    "name": p.name,
                    "kind": p.kind.value,
                    "annotation": _text(p.annotation),
                    "default": _text(p.default),
                }
                for p in target.parameters
            ],
            "returns": _text(target.returns),
        }
    if isinstance(target, griffe.Attribute):
        return {
            "kind": "attribute",
            "name": name,
            "labels": labels,
            "annotation": _text(target.annotation),
        }
    if isinstance(target, griffe.TypeAlias):
        return {"kind": "type alias", "name": name, "value": _text(target.value)}
    if isinstance(target, griffe.Module):
        return _dump_module(package, target, name=name)
    raise GateError(
        f"{package.name}: {obj.path} is a {target.kind.value}, which the gate cannot record"
    )


def _class_members(package: Package, cls: griffe.Class) -> dict[str, griffe.Object | griffe.Alias]:
    """Public members, inherited ones included when their class is in the same package (a base
    from another distribution is that distribution's API)."""
    members: dict[str, griffe.Object | griffe.Alias] = {}
    for name, member in cls.all_members.items():
        if not _is_public_member(name, member):
            continue
        # An inherited member is an alias to the base's; its target says whose API it is.
        if (
            isinstance(member, griffe.Alias)
            and member.inherited
            and member.target_path.split(".")[0] not in package.tops
        ):
            continue
        members[name] = member
    return members


# Special methods whose signature Python fixes, or which only the dataclass machinery calls.
_NOT_INTERFACE = frozenset({"__post_init__", "__repr__", "__str__"})


def _is_public_member(name: str, member: griffe.Object | griffe.Alias) -> bool:
    if not name.startswith("_"):
        return True
    # Special methods are how a class is used (construction, calls, context managers).
    special = name.startswith("__") and name.endswith("__") and name not in _NOT_INTERFACE
    return special and member.is_function


def _text(value: str | griffe.Expr | None) -> str | None:
    return None if value is None else str(value)


def render(snapshot: dict[str, Any]) -> str:
    """Deterministic JSON for reviewable diffs: name and kind first, other keys sorted, members
    sorted by name, and each
    object without nested objects (an attribute, a parameter) on one line."""
    return _render(snapshot, 0) + "\n"


def _render(value: Any, level: int) -> str:
    if isinstance(value, dict):
        value = {k: value[k] for k in sorted(value, key=_key_order)}
    if _is_flat(value):
        return json.dumps(value, ensure_ascii=False)
    inner, outer = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {_render(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    items = [f"{inner}{_render(v, level + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{outer}]"


def _key_order(key: str) -> tuple[int, str]:
    # What an object is comes first; the rest alphabetically.
    return ({"name": 0, "kind": 1}.get(key, 2), key)


def _is_flat(value: Any) -> bool:
    def scalar(v: Any) -> bool:
        return not isinstance(v, dict | list)

    if isinstance(value, dict):
        return all(
            scalar(v) or (isinstance(v, list) and all(map(scalar, v))) for v in value.values()
        )
    if isinstance(value, list):
        return all(map(scalar, value))
    return True


def load_snapshot(text: str) -> list[griffe.Module]:
    """The snapshot's modules as griffe objects (through griffe's JSON decoder)."""
    data = json.loads(text, object_hook=_decode)
    modules: list[griffe.Module] = data["modules"]
    collection = griffe.ModulesCollection()
    for module in modules:
        # Bases are recorded as text: griffe looks them up in a collection (holding only the
        # snapshot's modules) to find inherited members, finds none, and moves on. A one-part
        # key, because the module's name has dots.
        collection[(module.name,)] = module
        _mark_public(module)
    return modules


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("kind")
    if kind in ("class", "function", "attribute", "type alias", "alias"):
        obj.setdefault("lineno", None)  # left out of snapshots on purpose
    if kind == "type alias":
        obj.setdefault("type_parameters", [])
    if kind in ("module", "class") and isinstance(obj.get("members"), list):
        obj["members"] = {member.name: member for member in obj["members"]}
    return griffe.json_decoder(obj)


def _mark_public(obj: griffe.Object) -> None:
    # Everything in a snapshot is public by construction; say so, rather than let griffe guess
    # from names (it would call a re-exported class "imported", hence private).
    for member in obj.members.values():
        member.public = True
        if isinstance(member, griffe.Object):
            _mark_public(member)


# --- comparing ----------------------------------------------------------------------------------


def breaking_changes(old: list[griffe.Module], new: list[griffe.Module]) -> list[str]:
    """griffe's breaking changes from ``old`` to ``new``, one readable line each, sorted."""
    new_by_name = {m.name: m for m in new}
    found = []
    for old_module in old:
        new_module = new_by_name.get(old_module.name)
        if new_module is None:
            found.append(f"{old_module.name}: public module removed")
            continue
        found.extend(_explain(b) for b in griffe.find_breaking_changes(old_module, new_module))
    return sorted(found)


def _explain(breakage: griffe.Breakage) -> str:
    where = breakage.obj.path
    old, new = breakage.old_value, breakage.new_value
    if isinstance(old, griffe.Parameter) or isinstance(new, griffe.Parameter):
        parameter = old if isinstance(old, griffe.Parameter) else new
        where = f"{where}({parameter.name})"
        old = _parameter_text(old)
        new = _parameter_text(new)
    text = f"{where}: {breakage.kind.value}"
    if breakage.kind is griffe.BreakageKind.OBJECT_REMOVED:
        return text
    if breakage.details:  # a moved parameter: the same before and after, at another position
        return f"{text}: {breakage.details}"
    change = " -> ".join(str(v) for v in (old, new) if v not in (None, ""))
    return f"{text}: {change}" if change else text


def _parameter_text(value: object) -> object:
    if not isinstance(value, griffe.Parameter):
        return value
    annotation = f": {value.annotation}" if value.annotation is not None else ""
    default = f" = {value.default}" if value.default is not None else ""
    kind = f" ({value.kind.value})" if value.kind is not None else ""
    return f"{value.name}{annotation}{default}{kind}"


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``+ path``, ``- path`` and ``~ path`` lines for what differs between two snapshots."""
    before, after = dict(_flatten(old)), dict(_flatten(new))
    lines = [f"+ {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"- {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"~ {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines


def _flatten(snapshot: dict[str, Any]) -> Iterator[tuple[str, str]]:
    def walk(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
        path = f"{prefix}.{node['name']}" if prefix else node["name"]
        own = {k: v for k, v in node.items() if k != "members"}
        yield path, json.dumps(own, sort_keys=True)
        for member in node.get("members", []):
            yield from walk(member, path)

    for module in snapshot.get("modules", []):
        yield from walk(module, "")


# --- git ------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise GateError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def is_breaking(message: str) -> bool:
    """Whether a commit message marks a breaking change (conventional commits)."""
    return bool(_BREAKING_SUBJECT.match(message) or _BREAKING_FOOTER.search(message))


def breaking_commits(root: Path, since: str | None, directory: Path) -> list[str]:
    """``<short hash> <subject>`` of the commits after ``since`` (all history when None) that
    touch ``directory`` and are marked breaking."""
    span = [f"{since}..HEAD"] if since else ["HEAD"]
    log = _git(root, "log", "--format=%h%x00%B%x1e", *span, "--", str(directory))
    found = []
    for record in log.split("\x1e"):
        short, _, message = record.strip().partition("\x00")
        if short and is_breaking(message):
            found.append(f"{short} {message.splitlines()[0]}")
    return found


def last_commit_of(root: Path, path: Path) -> str | None:
    """The last commit that changed ``path``, or None when it was never committed."""
    return _git(root, "log", "-1", "--format=%H", "--", str(path)).strip() or None


def last_release_tag(root: Path, package: Package) -> str | None:
    tags = _git(root, "tag", "--list", f"{package.name}-v*", "--sort=-v:refname").split()
    return tags[0] if tags else None


def snapshot_at(root: Path, ref: str, path: Path) -> str | None:
    done = subprocess.run(
        ["git", "show", f"{ref}:{path.as_posix()}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


# --- the gate -----------------------------------------------------------------------------------


def check_package(root: Path, package: Package, current: dict[str, Any], *, ci: bool) -> Verdict:
    """Compare ``current`` with the package's snapshot and its last release; decide."""
    verdict = Verdict(package)
    new_text = render(current)
    snapshot_file = root / package.snapshot
    old_text = snapshot_file.read_text() if snapshot_file.is_file() else None
    new_api = load_snapshot(new_text)

    if old_text is None:
        verdict.lines.append(f"no snapshot yet: {package.snapshot} records the current API")
        verdict.write = True
    elif old_text != new_text:
        old = json.loads(old_text)
        verdict.lines += [f"  {line}" for line in changed_paths(old, current)]
        breaks = breaking_changes(load_snapshot(old_text), new_api)
        if breaks:
            since = last_commit_of(root, package.snapshot)
            marked = breaking_commits(root, since, package.directory)
            verdict.lines += [f"  breaking: {line}" for line in breaks]
            if marked:
                verdict.lines.append(f"breaking changes, announced by {marked[0]}")
                verdict.write = True
            else:
                verdict.failed = True
                verdict.lines.append(
                    f"breaking changes and no commit since {package.snapshot} was last committed"
                    f" marks one: restore the API, or commit the change as `type(scope)!: ...`"
                    f" (or with a `BREAKING CHANGE:` footer) and run the gate again"
                )
        else:
            verdict.lines.append("compatible changes")
            verdict.write = True

    _check_release(root, package, new_api, verdict)
    if verdict.write and ci:
        verdict.write = False
        verdict.lines.append(
            f"notice: {package.snapshot} is stale (CI writes nothing): run `nox -s api` and"
            " commit the snapshot"
        )
    elif verdict.write:
        snapshot_file.write_text(new_text)
        verdict.lines.append(f"wrote {package.snapshot}: commit it")
    return verdict


def _check_release(
    root: Path, package: Package, new_api: list[griffe.Module], verdict: Verdict
) -> None:
    tag = last_release_tag(root, package)
    if tag is None:
        return
    released = snapshot_at(root, tag, package.snapshot)
    if released is None:
        verdict.lines.append(f"{tag} has no {package.snapshot}: nothing to compare with")
        return
    breaks = breaking_changes(load_snapshot(released), new_api)
    if not breaks:
        return
    verdict.lines += [f"  breaking since {tag}: {line}" for line in breaks]
    marked = breaking_commits(root, tag, package.directory)
    if marked:
        verdict.lines.append(f"breaking since {tag}, announced by {marked[0]}")
    else:
        verdict.failed = True
        verdict.write = False
        verdict.lines.append(
            f"breaking changes since {tag} and no commit since that tag marks one, so the next"
            " release would not be a major one: mark a commit `type(scope)!: ...`"
        )


def run(root: Path, *, only: Iterable[str] = (), ci: bool = False) -> int:
    """The gate over the workspace at ``root``; prints a report, returns the exit status."""
    try:
        packages = read_packages(root)
        wanted = set(only)
        unknown = wanted - {p.name for p in packages}
        if unknown:
            raise GateError(f"no such package: {', '.join(sorted(unknown))}")
        selected = [p for p in packages if not wanted or p.name in wanted]
        snapshots = dump_packages(root, selected)
        verdicts = [check_package(root, p, snapshots[p.name], ci=ci) for p in selected]
    except GateError as exc:
        print(f"api gate: {exc}", file=sys.stderr)
        return 2
    for verdict in verdicts:
        state = "FAIL" if verdict.failed else "ok"
        print(f"{verdict.package.name}: {state}")
        for line in verdict.lines:
            print(f"  {line}")
    failed = [v.package.name for v in verdicts if v.failed]
    if failed:
        print(f"api gate failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("packages", nargs="*", help="distributions to check (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--check", action="store_true", help="write nothing (implied when CI=true)")
    args = parser.parse_args(argv)
    ci = args.check or os.environ.get("CI", "").lower() in ("true", "1")
    return run(args.root.resolve(), only=args.packages, ci=ci)


if __name__ == "__main__":
    sys.exit(main())
