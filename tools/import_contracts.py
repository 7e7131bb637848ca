"""import-linter contract types of this repository (``contract_types`` in the root pyproject).

``public_api``: the source modules reach a package only through its public modules. A
``forbidden`` contract would have to list every internal module, and a new one would slip
through; this contract names what is allowed instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


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
        package = self.package.name
        public = {module.name for module in self.public_modules}
        violations: list[_Violation] = []
        for source in self.source_modules:
            importers = {source.name} | graph.find_descendants(source.name)
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
        public = ", ".join(sorted(module.name for module in self.public_modules))
        output.print_error(f"Only these modules of {self.package.name} are public: {public}.")
        output.new_line()
        for violation in check.metadata["violations"]:
            output.print_error(
                f"{violation.importer}:{violation.line_number} imports {violation.imported}: "
                f"{violation.line_contents}"
            )
        output.new_line()
