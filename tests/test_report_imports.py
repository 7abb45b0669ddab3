"""lfm_conformance/report/ reads top-down: no module imports one that imports it back, lazily or not
(an import inside a function counts: it is the same circle, only deferred)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import lfm_conformance.report

REPORT = Path(lfm_conformance.report.__file__).resolve().parent
PACKAGE = "lfm_conformance.report"


def imports_of(source: str) -> set[str]:
    """The modules of the report package a module's source imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found


def import_graph(folder: Path) -> dict[str, set[str]]:
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    return {m: imports_of((folder / f"{m}.py").read_text(encoding="utf-8")) & modules - {m} for m in sorted(modules)}


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each import circle once, as 'a -> b -> a' (depth-first search over the graph)."""
    found, done = [], set()

    def visit(module, path):
        if module in path:
            circle = path[path.index(module):] + [module]
            if frozenset(circle) not in done:
                done.add(frozenset(circle))
                found.append(" -> ".join(circle))
            return
        for nxt in sorted(graph.get(module, ())):
            visit(nxt, path + [module])

    for module in graph:
        visit(module, [])
    return found


def test_report_modules_import_without_a_circle():
    assert cycles(import_graph(REPORT)) == []


@pytest.mark.parametrize("module", sorted(p.stem for p in REPORT.glob("*.py") if p.stem != "__init__"))
def test_each_report_module_imports(module):
    importlib.import_module(f"{PACKAGE}.{module}")


def test_a_circle_is_named_with_its_path(tmp_path):
    """results -> diff -> results, the diff's import inside a function: one circle, named."""
    (tmp_path / "results.py").write_text("from lfm_conformance.report import grid, diff\n")
    (tmp_path / "diff.py").write_text("def f():\n    from lfm_conformance.report import results\n")
    (tmp_path / "grid.py").write_text("")
    assert cycles(import_graph(tmp_path)) == ["diff -> results -> diff"]


def test_page_helpers_have_one_home():
    """The sign-off, the diff and the trend render through pages.py; none borrows another page's helpers."""
    graph = import_graph(REPORT)
    assert "pages" in graph["signoff"] and "pages" in graph["diff"] and "pages" in graph["trend"]
    assert "signoff" not in graph["diff"] | graph["trend"]
