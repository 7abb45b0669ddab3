"""The model x check grid printed at the end of a run (and the cell vocabulary reports share)."""
from __future__ import annotations

# Worst first: a cell shows the worst outcome of its phases/parametrizations.
SEVERITY = ["error", "fail", "unexpected-pass", "known-deviation", "pass", "not-applicable", "skipped"]
SYMBOL = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "known-deviation": "DEV",
          "unexpected-pass": "XPASS!", "not-applicable": "n/a", "skipped": "skip"}


def cell_for(report) -> str | None:
    """The cell status a pytest report contributes, or None for a passing setup/teardown."""
    if report.when == "call" or report.outcome != "passed":
        if hasattr(report, "wasxfail"):
            return "known-deviation" if report.skipped else "unexpected-pass"
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return "not-applicable" if "not applicable" in reason else "skipped"
        if report.failed:
            return "fail" if report.when == "call" else "error"
        return "pass"
    return None


def merge(old: str | None, new: str) -> str:
    if old is None:
        return new
    return min(old, new, key=SEVERITY.index)


def render(outcomes: dict[tuple[str, str], str], model_order: list[str]) -> list[str]:
    checks = sorted({check for _, check in outcomes})
    models = [m for m in model_order if any(m == om for om, _ in outcomes)]
    short = [c.removeprefix("test_") for c in checks]
    width = max(len(m) for m in models)
    cols = [max(len(s), 6) for s in short]
    lines = [" " * width + " | " + " | ".join(s.ljust(w) for s, w in zip(short, cols))]
    lines.append("-" * len(lines[0]))
    for m in models:
        cells = [SYMBOL.get(outcomes.get((m, c), ""), "") for c in checks]
        lines.append(m.ljust(width) + " | " + " | ".join(x.ljust(w) for x, w in zip(cells, cols)))
    lines.append("PASS ok, FAIL/ERROR broken, DEV known deviation (strict xfail), XPASS! deviation fixed: review, n/a not applicable")
    return lines
