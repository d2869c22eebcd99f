"""The core modules import one another in one direction: structures -> geometry -> forms -> potential
-> LAMMPS files -> potential files. An import inside a function or under TYPE_CHECKING counts too:
each one that pointed back made a cycle that only a late import kept from failing. Beyond the core, no
module of the package is in an import cycle (but through the known import below, with the move
that removes it)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

#: modules that must be in no import cycle
LAYERED = ["gafit.structures", "gafit.geometry", "gafit.forms", "gafit.forms.base", "gafit.forms.pair",
           "gafit.forms.coulomb", "gafit.coulomb", "gafit.potential", "gafit.lammps.files",
           "gafit.potential_files"]


def module_names() -> dict[str, Path]:
    """{dotted name: file} of every module of the package."""
    out = {}
    for path in sorted((ROOT / "gafit").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def import_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: gafit modules it imports anywhere in its file (absolute imports)}."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from gafit import crystals`` imports the module gafit.crystals, not what
                # gafit/__init__.py imports; a name that is no module is the package's own
                subs = [f"{node.module}.{a.name}" for a in node.names]
                found |= {t for t in subs if t in modules}
                if node.module in modules and any(t not in modules for t in subs):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
        edges[name] = found - {name}
    return edges


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_layered_modules_are_in_no_import_cycle() -> None:
    modules = module_names()
    edges = import_edges(modules)
    assert set(LAYERED) <= set(modules)
    in_cycle = [name for name in LAYERED if name in reachable(name, edges)]
    assert in_cycle == []


#: imports that close a cycle and remain, each with the move that removes it (then delete it here);
#: (importer, imported), the importer a module or a package (any of its modules)
KNOWN_BACK_EDGES = {
    ("gafit.fit_result", "gafit.report"):
        "FitResult.write_report(dir), the public convenience of issue 14, delegates to "
        "gafit.report.write_report, which renders a FitResult (the report sits above fit_result); "
        "only dropping the method removes it",
}


def _known(importer: str, imported: str) -> bool:
    return any((importer == src or importer.startswith(f"{src}.")) and imported == dst
               for src, dst in KNOWN_BACK_EDGES)


def import_cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The groups of modules that import one another, directly or through others (the strongly
    connected components of more than one module)."""
    reach = {name: reachable(name, edges) for name in edges}
    cycles = {frozenset({name} | {other for other in reach[name] if name in reach[other]})
              for name in edges if name in reach[name]}
    return sorted(cycles, key=sorted)


def test_no_module_is_in_an_import_cycle() -> None:
    edges = import_edges(module_names())
    rest = {name: {t for t in targets if not _known(name, t)} for name, targets in edges.items()}
    assert [sorted(c) for c in import_cycles(rest)] == []


def test_each_known_back_edge_still_closes_a_cycle() -> None:
    """A known import that no longer closes a cycle (its move made) leaves KNOWN_BACK_EDGES."""
    edges = import_edges(module_names())
    cycles = import_cycles(edges)
    gone = [(src, dst) for src, dst in KNOWN_BACK_EDGES
            if not any(_known(name, dst) and dst in targets and any({name, dst} <= c for c in cycles)
                       for name, targets in edges.items() if name.startswith(src))]
    assert gone == []


def test_the_cycle_finder_finds_a_lazy_cycle(tmp_path: Path) -> None:
    """A function-level import back to a module that imports this one at the top is a cycle."""
    (tmp_path / "gafit").mkdir()
    (tmp_path / "gafit" / "low.py").write_text("def f():\n    from gafit.high import g\n")
    (tmp_path / "gafit" / "high.py").write_text("from gafit.low import f\nfrom gafit import low\n")
    (tmp_path / "gafit" / "other.py").write_text("from gafit import low\n")
    modules = {f"gafit.{p.stem}": p for p in (tmp_path / "gafit").glob("*.py")}
    assert import_cycles(import_edges(modules)) == [frozenset({"gafit.low", "gafit.high"})]
