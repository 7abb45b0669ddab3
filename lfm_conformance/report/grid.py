"""The model x behaviour grid printed at the end of a run, and the status vocabulary reports share.
A cell is one suite (behaviour) for one model: its worst check, with the count of checks behind it."""
from __future__ import annotations

from collections import defaultdict
from functools import reduce

# Worst first: a cell shows the worst outcome of its checks. "skipped" is the status of files
# written before the suite told skips apart: it ranks with NOT RUN (nothing was checked).
SEVERITY = ["fail", "error", "unexpected-pass", "not-run", "skipped", "pending", "known-deviation", "measured",
            "pass", "not-applicable"]
SYMBOL = {"fail": "FAIL", "error": "ERROR", "unexpected-pass": "XPASS!", "not-run": "NOT RUN", "skipped": "NOT RUN",
          "pending": "PENDING", "known-deviation": "DEV", "measured": "MEASURED", "pass": "PASS",
          "not-applicable": "n/a"}
LEGEND = ("PASS assertions ran and held | FAIL vLLM broke a promise | ERROR the suite could not check (its own error) | "
          "XPASS! a known deviation no longer happens: review | NOT RUN the suite could not run it here | "
          "PENDING a gate without its baseline | DEV known deviation (strict xfail) | MEASURED figures, no gate | "
          "n/a the guide does not claim it here | (n) checks in the cell")
# Skip reasons start with the status they mean; any other skip is NOT RUN.
SKIP_PREFIXES = {"not applicable": "not-applicable", "pending": "pending", "not run": "not-run"}
# The user property a test sets to say it measured figures and gated nothing (harness.outcomes.measured).
OUTCOME_PROPERTY = "outcome"
# The user property the plugin sets on a failure: "check" (the thing under test broke a promise)
# or "suite" (an exception of the suite's own: it could not check).
FAILURE_PROPERTY = "failure"


def skip_status(reason: str) -> str:
    reason = reason.removeprefix("Skipped: ").lstrip()
    return next((status for prefix, status in SKIP_PREFIXES.items() if reason.startswith(prefix)), "not-run")


def cell_for(report) -> str | None:
    """The status a pytest report contributes, or None for a passing setup/teardown."""
    if report.when == "call" or report.outcome != "passed":
        props = dict(getattr(report, "user_properties", ()) or ())
        if hasattr(report, "wasxfail"):
            return "known-deviation" if report.skipped else "unexpected-pass"
        if report.failed and report.when == "call" and str(report.longrepr).startswith("[XPASS(strict)]"):
            return "unexpected-pass"
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return skip_status(reason)
        if report.failed:
            return "fail" if report.when == "call" and props.get(FAILURE_PROPERTY) != "suite" else "error"
        return "measured" if props.get(OUTCOME_PROPERTY) == "measured" else "pass"
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
    problems = sorted((m, s, c, st) for (m, s, c), st in outcomes.items() if st not in ("pass", "not-applicable", "measured"))
    for m, s, c, st in problems:
        lines.append(f"  {SYMBOL[st]:6} {m} / {s} / {c}")
    return lines
