#!/usr/bin/env python3
"""The lines ./run tests never executed, grouped by the function (or module level) that holds them, for
review: `python scripts/coverage_review.py [reports/coverage/coverage.json]` prints one line per group:
`file:function  lines  (n lines)`. Reasons for the groups live in docs/coverage-never-executed.md."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ranges(lines: list[int]) -> str:
    out, start, prev = [], None, None
    for n in sorted(lines):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else str(start))
    return ", ".join(out)


def enclosing(tree: ast.AST) -> dict[int, str]:
    """Line -> innermost def/class name (dotted), module level unnamed."""
    owner: dict[int, str] = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                for n in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owner[n] = name
                walk(child, name + ".")
            else:
                walk(child, prefix)
    walk(tree, "")
    return owner


def groups(report: dict) -> list[tuple[str, str, list[int]]]:
    out = []
    for path, data in sorted(report["files"].items()):
        missing = data["missing_lines"]
        if not missing:
            continue
        owner = enclosing(ast.parse((ROOT / path).read_text(encoding="utf-8")))
        by: dict[str, list[int]] = {}
        for n in missing:
            by.setdefault(owner.get(n, "<module>"), []).append(n)
        out += [(path, name, lines) for name, lines in by.items()]
    return out


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else ROOT / "reports" / "coverage" / "coverage.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: {path}: {exc} (run ./run tests first)", file=sys.stderr)
        return 2
    found = groups(report)
    for file, name, lines in found:
        print(f"{file}:{name}  {ranges(lines)}  ({len(lines)} lines)")
    print(f"{sum(len(g[2]) for g in found)} lines never executed in {len(found)} groups; "
          f"total {report['totals']['percent_covered_display']}% (line + branch)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
