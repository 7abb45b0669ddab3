"""Report upstream: each finding of the deviations file (suites/known_deviations.yaml; a parser finding
through the entry that replays it) with its owner, its status on each vLLM version of a results document,
and where its reproduction (`python -m lfm_conformance.report.upstream`) or guide correction
(`python -m lfm_conformance.report.corrections`) is written."""
from __future__ import annotations

from functools import lru_cache

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from lfm_conformance.data import deviations, owners
from lfm_conformance.report import observed

UPSTREAM = "reports/upstream"  # one folder per finding id
UNOWNED = "unowned"  # an id the deviations file does not hold (an older results file)
NEW, PRESENT, FIXED, UNCHECKED = "new here", "still present", "fixed here", "not checked here"
LOWER = (">=", "==", "~=", ">", "===")  # specifier operators that bound a range from below
REPLAY = "test_parser_finding_"  # the check of an entry replaying a parser finding
END_TO_END = "_end_to_end"  # ... served (suites/test_parser_findings.py)


@lru_cache(maxsize=1)
def entries() -> tuple[deviations.Deviation, ...]:
    """The suite's deviations file, read once per process."""
    return tuple(deviations.load(deviations.DEFAULT_FILE, vllm_version=None).entries)


def owner_of(dev_id: str) -> str:
    return next((d.owner for d in entries() if d.id == dev_id), UNOWNED)


def owner_order(owner: str) -> int:
    """owners.OWNERS order (vLLM components, the guide, the CPU build), unowned last."""
    return list(owners.OWNERS).index(owner) if owner in owners.OWNERS else len(owners.OWNERS)


def paths(dev_id: str, owner: str) -> list[str]:
    """Where the finding is handed over: the guide's correction, else the standalone repro and issue draft
    (an entry made of parser findings: its issue draft and its findings' repros)."""
    if owner == "guide":
        return [f"{UPSTREAM}/{dev_id}/correction.md"]
    causes = next((d.caused_by for d in entries() if d.id == dev_id), ())
    if causes:
        return [f"{UPSTREAM}/{dev_id}/issue.md"] + [f"{UPSTREAM}/{r}/repro.py" for fid in causes for r in replayed_by(fid)]
    return [f"{UPSTREAM}/{dev_id}/repro.py", f"{UPSTREAM}/{dev_id}/issue.md"]


def replayed_by(finding_id: str) -> list[str]:
    """The entries replaying a parser finding in-process (test_parser_finding_<id>): its reproductions."""
    return [d.id for d in entries() if d.check == REPLAY + finding_id]


def finding_of_check(check: str) -> str | None:
    """The parser finding (suites/parser_findings.yaml id) a check replays, in-process or served."""
    return check.removeprefix(REPLAY).removesuffix(END_TO_END) if check.startswith(REPLAY) else None


def parser_finding(dev: deviations.Deviation) -> str | None:
    return finding_of_check(dev.check)


def earlier(dev: deviations.Deviation, version: str) -> list[str]:
    """Releases before `version` known to show the finding: recorded runs (docs/) and the range's floor."""
    found = [v for v in observed.recorded().versions(dev.id) if _lt(v, version)]
    floors = [s.version.removesuffix(".*") for s in SpecifierSet(dev.vllm) if s.operator in LOWER]
    return found or [f for f in floors if _lt(f, version)]


def status(dev: deviations.Deviation, version: str, records: list[dict]) -> str | None:
    """The finding on one vLLM version of the document, from that version's records: new here, still
    present, fixed here, not checked here; None when its range neither holds this version nor ended below it."""
    mine = [r for r in records if (r["deviation"] or {}).get("id") == dev.id]
    before = earlier(dev, version)
    if any(r["status"] == "unexpected-pass" for r in mine):
        return FIXED + (f" (seen on vLLM {', '.join(before)})" if before else "")
    if any(r["status"] == "known-deviation" for r in mine):
        return f"{PRESENT} (since vLLM {before[0]})" if before else NEW
    if _holds(dev.vllm, version):
        return UNCHECKED + " (applies by its range)"
    if not before:
        return None
    ran = [r for r in records if r["check"] == dev.check and ("*" in dev.models or r["model"] in dev.models)
           and (dev.cases is None or r["case"] in dev.cases)]
    if ran and all(r["status"] == "pass" for r in ran):
        return FIXED + f" (last seen on vLLM {before[-1]}; its check passed here)"
    return None


def report(doc: dict) -> list[tuple[str, list[dict]]]:
    """(owner, its findings) in owner order: each finding's id, range, status per vLLM version of the
    document, the parser finding it replays and its hand-over paths."""
    by_version: dict[str, list[dict]] = {}
    where_version = {run["where"]: run["environment"]["vllm"] or "?" for run in doc["runs"]}
    for run in doc["runs"]:
        by_version.setdefault(where_version[run["where"]], [])
    for rec in doc["records"]:
        by_version.setdefault(where_version.get(rec["where"], "?"), []).append(rec)
    groups: dict[str, list[dict]] = {}
    for dev in entries():
        states = {v: s for v, recs in by_version.items() if (s := status(dev, v, recs)) is not None}
        if not states:
            continue
        shown = "; ".join(f"vLLM {v}: {s}" for v, s in states.items()) if len(states) > 1 else next(iter(states.values()))
        groups.setdefault(dev.owner, []).append({"id": dev.id, "vllm": dev.vllm, "status": shown,
                                                 "parser_finding": parser_finding(dev),
                                                 "paths": paths(dev.id, dev.owner)})
    return sorted(groups.items(), key=lambda item: owner_order(item[0]))


def line(finding: dict) -> str:
    """One finding as one line of text (the Markdown renderer adds its own markup)."""
    replay = f", parser finding {finding['parser_finding']}" if finding["parser_finding"] else ""
    return f"{finding['id']} (vLLM {finding['vllm']}{replay}): {finding['status']}"


def _holds(spec: str, version: str) -> bool:
    try:
        return Version(version) in SpecifierSet(spec)
    except InvalidVersion:
        return False


def _lt(a: str, b: str) -> bool:
    try:
        return Version(a) < Version(b)
    except InvalidVersion:
        return False
