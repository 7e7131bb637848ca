"""import-linter contract types of this repository (``contract_types`` in the root pyproject).

``public_api``: the source modules reach a package only through its public modules. A
``forbidden`` contract would have to list every internal module, and a new one would slip
through; this contract names what is allowed instead.

``acyclic``: no import cycle among the modules of a package (imports under ``TYPE_CHECKING``
aside, as the root configuration excludes them from the graph).
"""

from __future__ import annotations

from dataclasses import dataclass

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _name(contract: Contract, field: str) -> str:
    """A module option's name (fields are class-level descriptors; values live on the instance)."""
    return str(vars(contract)[field].name)


def _names(contract: Contract, field: str) -> list[str]:
    """A module-list option's names."""
    return [str(module.name) for module in vars(contract)[field]]


@dataclass(frozen=True)
class _Violation:
    importer: str
    imported: str
    line_number: int
    line_contents: str


class PublicApiContract(Contract):
    """``source_modules`` import ``package`` only through ``public_modules``."""

    source_modules = fields.ListField(subfield=fields.ModuleField())
    package = fields.ModuleField()
    public_modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = _name(self, "package")
        public = set(_names(self, "public_modules"))
        violations: list[_Violation] = []
        for source in _names(self, "source_modules"):
            importers = {source} | graph.find_descendants(source)
            for importer in sorted(importers):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    inside = imported == package or imported.startswith(f"{package}.")
                    if not inside or imported in public:
                        continue
                    for detail in graph.get_import_details(importer=importer, imported=imported):
                        violations.append(
                            _Violation(
                                importer,
                                imported,
                                int(detail["line_number"]),
                                str(detail["line_contents"]),
                            )
                        )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        public = ", ".join(sorted(_names(self, "public_modules")))
        output.print_error(f"Only these modules of {_name(self, 'package')} are public: {public}.")
        output.new_line()
        for violation in check.metadata["violations"]:
            output.print_error(
                f"{violation.importer}:{violation.line_number} imports {violation.imported}: "
                f"{violation.line_contents}"
            )
        output.new_line()


class AcyclicContract(Contract):
    """No module of ``package`` imports, directly or not, a module that imports it back."""

    package = fields.ModuleField()

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = _name(self, "package")
        modules = {package} | graph.find_descendants(package)
        edges = {
            module: sorted(graph.find_modules_directly_imported_by(module) & modules)
            for module in modules
        }
        cycles = _strongly_connected(edges)
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error("These modules import each other: " + ", ".join(cycle))
            output.new_line()


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """The components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
