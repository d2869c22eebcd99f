"""The core modules import one another in one direction: structures -> geometry -> forms -> potential
-> LAMMPS files -> potential files. An import inside a function or under TYPE_CHECKING counts too:
each one that pointed back made a cycle that only a late import kept from failing."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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
                found |= {t for t in [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                          if t in modules}
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
