"""The results document (results.json): its schema, a record's key and case, the document assembled
from runs and records with its summary (counts, grouped outcomes, the verdict) and guide coverage. No
pytest and no pages: the collector (results.py), merging, the diff and the pages all build on it."""
from __future__ import annotations

import json
import re
from pathlib import Path

from lfm_conformance.data import deviations
from lfm_conformance.report import coverage, grid

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
SCHEMA_VERSION = 1
FILE_NAME = "results.json"
BLOCKING = ("fail", "error", "unexpected-pass")
UNFINISHED = ("not-run", "skipped", "pending")  # a guide claim this run did not settle: INCOMPLETE
GROUP_LISTED = 4  # cells named in one group of identical outcomes
EXIT_PROBLEMS = {2: "the run was interrupted: results are incomplete",
                 3: "pytest hit an internal error: results are incomplete"}


# -- the results document ---------------------------------------------------------------------------
def assemble(runs: list[dict], records: list[dict], **extra) -> dict:
    """A results document from runs and records (one run for a pytest run, several once merged),
    with its guide coverage (suites/claims.yaml: which claims the records verified)."""
    commits = {r["suite_commit"] for r in runs}
    hashes = {r["matrix_sha256"] for r in runs}
    doc = {"schema_version": SCHEMA_VERSION,
           "suite_commit": commits.pop() if len(commits) == 1 else None,
           "matrix_sha256": hashes.pop() if len(hashes) == 1 else None,
           **extra, "runs": runs, "records": records}
    doc["summary"] = summarize(doc)
    doc["coverage"] = coverage.build(doc)
    return doc


def summarize(doc: dict) -> dict:
    """Counts per status and the verdict. BLOCKED when a check failed (vLLM broke a promise), the
    suite could not check (error), a known deviation no longer happens, or a run did not end
    normally; else REGRESSIONS when the release diff against --baseline found regressions; else
    INCOMPLETE when a check was NOT RUN or PENDING, or the run left out models or behaviours of the
    matrix (a selection); else SIGN-OFF. Identical outcomes are grouped: one entry with the count of
    cases, not one per case."""
    counts = {status: 0 for status in grid.SEVERITY}
    for rec in doc["records"]:
        counts[rec["status"]] += 1
    failing = _groups([r for r in doc["records"] if r["status"] in ("fail", "unexpected-pass")])
    suite_errors = _groups([r for r in doc["records"] if r["status"] == "error"])
    unfinished = _groups([r for r in doc["records"] if r["status"] in UNFINISHED])
    notes = []
    failing_where = {r["where"] for r in doc["records"] if r["status"] in BLOCKING}
    for run in doc["runs"]:
        problem = EXIT_PROBLEMS.get(run["exit_status"])
        if problem is None and run["exit_status"] == 1 and run["where"] not in failing_where:
            problem = "pytest reported failures outside the conformance checks (see junit.xml)"
        if problem:
            notes.append(f"{run['where']}: {problem} (pytest exit status {run['exit_status']})")
    if not doc["records"]:
        notes.append("no conformance check ran")
    scope = scope_gaps(doc)
    regressions = (doc.get("release_diff") or {}).get("regressions", [])
    if failing or suite_errors or notes:
        verdict = "BLOCKED"
    elif regressions:
        verdict = "REGRESSIONS"
    elif unfinished or scope:
        verdict = "INCOMPLETE"
    else:
        verdict = "SIGN-OFF"
    return {"verdict": verdict, "counts": counts, "blocking": failing, "suite_errors": suite_errors,
            "incomplete": unfinished, "scope": scope, "regressions": regressions, "notes": notes}


def _groups(recs: list[dict]) -> list[str]:
    """One line per identical outcome (status, behaviour, check, reason) with its cases."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((r["status"], r["suite"], r["check"], r["reason"]), []).append(r)
    lines = []
    for (status, suite, check, reason), rs in groups.items():
        cells = [f"{r['model']} / {r['where']}{_case_suffix(r)}" for r in rs]
        shown = ", ".join(cells[:GROUP_LISTED]) + (f", +{len(cells) - GROUP_LISTED} more" if len(cells) > GROUP_LISTED else "")
        lines.append(f"{grid.SYMBOL[status]} {suite} / {check}{f': {reason}' if reason else ''} "
                     f"[{len(rs)} case{'s' * (len(rs) != 1)}: {shown}]")
    return lines


def scope_gaps(doc: dict) -> list[str]:
    """What of the full matrix the runs did not check: a selection (-m/-k, --deselect, suite files or
    node ids named), models or behaviours (suites) without a single record. Only a full run of a
    target can sign it off."""
    gaps = []
    selections = sorted({s for run in doc["runs"] if (s := _selection_text(run))})
    if selections:
        gaps.append("a selection of the checks (" + "; ".join(selections) + ")")
    universe = [run.get("universe") or {} for run in doc["runs"]]
    for what, field, key in (("models", "models", "model"), ("behaviours", "suites", "suite")):
        expected = list(dict.fromkeys(x for u in universe for x in u.get(field, ())))
        seen = {r[key] for r in doc["records"]}
        missing = [x for x in expected if x not in seen]
        if missing:
            gaps.append(f"{what} not run: {', '.join(missing)}")
    return gaps


def _selection_text(run: dict) -> str:
    sel = run["selection"]
    return " ".join(p for p in (f"-m '{sel['markers']}'" if sel["markers"] else "",
                                f"-k '{sel['keywords']}'" if sel["keywords"] else "",
                                *(f"--deselect {d}" for d in sel.get("deselected") or ()),
                                " ".join(sel.get("paths") or ())) if p)


def record_key(rec: dict) -> tuple:
    return rec["model"], rec["where"], rec["check"], rec["case"]


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _case(nodeid: str, model_id: str) -> str | None:
    """The test's parameters other than the model (e.g. "streaming"), or None. Under xdist's
    loadgroup the node id ends in "@<group>" after the parameters."""
    nodeid = re.sub(r"\]@[^\]]*$", "]", nodeid)
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    return deviations.case_id(nodeid[nodeid.index("[") + 1:-1], model_id)


def _case_suffix(rec: dict) -> str:
    return f"[{rec['case']}]" if rec.get("case") else ""
