"""The model x behaviour grid printed at the end of a run, and the status vocabulary reports share.
A cell is one suite (behaviour) for one model: its worst check, with the count of checks behind it."""
from __future__ import annotations

from collections import defaultdict
from functools import reduce

# Worst first: a cell shows the worst outcome of its checks.
SEVERITY = ["error", "fail", "unexpected-pass", "known-deviation", "pass", "not-applicable", "skipped"]
SYMBOL = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "known-deviation": "DEV",
          "unexpected-pass": "XPASS!", "not-applicable": "n/a", "skipped": "skip"}
LEGEND = ("PASS all checks pass | FAIL/ERROR broken | DEV known deviation (strict xfail) | "
          "XPASS! a known deviation no longer happens: review | n/a not applicable | (n) checks in the cell")


def cell_for(report) -> str | None:
    """The status a pytest report contributes, or None for a passing setup/teardown."""
    if report.when == "call" or report.outcome != "passed":
        if hasattr(report, "wasxfail"):
            return "known-deviation" if report.skipped else "unexpected-pass"
        if report.failed and report.when == "call" and str(report.longrepr).startswith("[XPASS(strict)]"):
            return "unexpected-pass"
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return "not-applicable" if "not applicable" in reason else "skipped"
        if report.failed:
            return "fail" if report.when == "call" else "error"
        return "pass"
    return None


def merge(old: str | None, new: str) -> str:
    return new if old is None else min(old, new, key=SEVERITY.index)


def worst(statuses) -> str | None:
    """The status a cell shows for these outcomes (None for none)."""
    return reduce(merge, statuses, None)


def render(outcomes: dict[tuple[str, str, str], str], model_order: list[str]) -> list[str]:
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (model, suite, _check), status in outcomes.items():
        cells[(model, suite)].append(status)
    suites = sorted({suite for _, suite in cells})
    models = [m for m in model_order if any(m == cm for cm, _ in cells)]
    width = max(len(m) for m in models)
    texts = {key: f"{SYMBOL[min(v, key=SEVERITY.index)]} ({len(v)})" for key, v in cells.items()}
    cols = [max([len(s)] + [len(texts.get((m, s), "")) for m in models]) for s in suites]
    header = " " * width + " | " + " | ".join(s.ljust(w) for s, w in zip(suites, cols))
    lines = [header, "-" * len(header)]
    for m in models:
        lines.append(m.ljust(width) + " | " + " | ".join(texts.get((m, s), "").ljust(w) for s, w in zip(suites, cols)))
    lines.append(LEGEND)
    problems = sorted((m, s, c, st) for (m, s, c), st in outcomes.items() if st not in ("pass", "not-applicable"))
    for m, s, c, st in problems:
        lines.append(f"  {SYMBOL[st]:6} {m} / {s} / {c}")
    return lines
