"""lfm_conformance/ is layered by role (its __init__ docstring): a module imports only the
subpackages its layer allows (`LAYERS`), so checks never reach into serving or reports, serving
never into reports, and nothing below the pytest glue imports it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lfm_conformance
from lfm_conformance import LAYERS

PACKAGE = Path(lfm_conformance.__file__).resolve().parent


def imported_layers(source: str, module_layer: str) -> set[tuple[str, int]]:
    """The lfm_conformance subpackages a module's source imports, anywhere in it (lazy imports
    included), with the line; relative imports are resolved from the module's own layer."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # `from . import x` / `from ..serving import y`
                base = ["lfm_conformance", module_layer][: max(0, 2 - (node.level - 1))]
                parts = base + (node.module.split(".") if node.module else [])
                module = ".".join(parts)
            else:
                module = node.module or ""
            targets = [module] if module != "lfm_conformance" else [f"lfm_conformance.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] == "lfm_conformance" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def layering_violations(package: Path) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if len(relative.parts) == 1:
            if relative.name != "__init__.py":
                problems.append(f"{relative}: a module outside every layer (move it into one of {sorted(LAYERS)})")
            continue
        layer = relative.parts[0]
        if layer not in LAYERS:
            problems.append(f"{relative}: subpackage {layer!r} is not in lfm_conformance.LAYERS")
            continue
        for imported, line in sorted(imported_layers(path.read_text(encoding="utf-8"), layer)):
            if imported != layer and imported in LAYERS and imported not in LAYERS[layer]:
                allowed = ", ".join(sorted(LAYERS[layer])) or "nothing"
                problems.append(f"{relative}:{line}: layer {layer!r} imports {imported!r} (allowed: {allowed})")
    return problems


def test_every_module_imports_only_lower_layers():
    assert layering_violations(PACKAGE) == []


def test_layers_form_no_cycle():
    order = []
    pending = dict(LAYERS)
    while pending:
        ready = [layer for layer, deps in pending.items() if deps <= set(order)]
        assert ready, f"the allowed imports of {sorted(pending)} form a cycle"
        order.extend(sorted(ready))
        for layer in ready:
            pending.pop(layer)


@pytest.mark.parametrize("line", [
    "from lfm_conformance.report import results",
    "from lfm_conformance import report",
    "import lfm_conformance.report.grid",
    "def lazy():\n    from ..report.grid import SEVERITY",
])
def test_an_upward_import_is_named(tmp_path, line):
    """A deliberate upward import (checks -> report) is reported with the file, line and the rule."""
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "checks" / "broken.py").write_text(line + "\n")
    problems = layering_violations(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("checks/broken.py:") and "imports 'report'" in problems[0]
    assert "allowed: data, parsers" in problems[0]


def test_a_module_outside_every_layer_is_named(tmp_path):
    (tmp_path / "loose.py").write_text("")
    assert layering_violations(tmp_path) == ["loose.py: a module outside every layer (move it into one of "
                                             f"{sorted(LAYERS)})"]
