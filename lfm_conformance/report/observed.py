"""Which vLLM versions each known deviation was seen on: the recorded runs under docs/ (their
results.json files), read once. A record observes a deviation when it is DEV with that deviation's
id, or when it is a plain failure that suites/known_deviations.yaml, as the plugin matches it on the
record's vLLM version (check, model, target, case and signature), calls that deviation (runs recorded
before the entry covered their version, e.g. docs/gpu-run-2026-11-27). An entry's open version range
(">=0.26") carries it to releases never run: the sign-off says which ones saw it."""
from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from packaging.version import InvalidVersion, Version

from lfm_conformance.data import deviations
from lfm_conformance.report import document

ROOT = Path(__file__).resolve().parents[2]
RECORDED_RUNS = ROOT / "docs"
PATTERNS = ("*/results*.json.gz", "*/results*.json")
DEV_REASON = re.compile(r"^known deviation (\S+) \(")


class Observations:
    def __init__(self, seen: dict[str, set[str]], sources: list[str]):
        self.seen = seen  # deviation id -> vLLM versions
        self.sources = sources  # the results files read

    def versions(self, dev_id: str) -> list[str]:
        """The vLLM versions a recorded run observed `dev_id` on, oldest first."""
        return sorted(self.seen.get(dev_id, ()), key=_version_key)


def seen_in(doc: dict, entries: list[deviations.Deviation]) -> dict[str, set[str]]:
    """deviation id -> the vLLM versions of the document's runs that observed it."""
    version_of = {run["where"]: run["environment"]["vllm"] for run in doc["runs"]}
    seen: dict[str, set[str]] = {}
    for rec in doc["records"]:
        version = version_of.get(rec["where"])
        dev_id = version and _observed_id(rec, deviations.KnownDeviations(entries, version))
        if dev_id:
            seen.setdefault(dev_id, set()).add(version)
    return seen


def _observed_id(rec: dict, known: deviations.KnownDeviations) -> str | None:
    if rec["status"] == "known-deviation":
        found = DEV_REASON.match(rec["reason"] or "")
        return (rec["deviation"] or {}).get("id") or (found and found.group(1))
    if rec["status"] not in ("fail", "error"):
        return None
    case = rec["case"] or document._case(rec["id"], f"{rec['model']}-{rec['target']}")
    dev = known.match(rec["check"], rec["model"], rec["target"], case=case)
    return dev.id if dev is not None and not dev.mismatches(failure_of(rec)) else None


def failure_of(rec: dict) -> SimpleNamespace:
    """A recorded failure as its CheckFailed carried it: problem (the first line), observed."""
    text = rec["evidence"] or rec["reason"] or ""
    observed = re.search(r"^  observed: (.*)$", text, re.M)
    return SimpleNamespace(problem=(text.splitlines() or [""])[0], observed=observed.group(1) if observed else "")


def load(folder: Path = RECORDED_RUNS, known_file: Path = deviations.DEFAULT_FILE) -> Observations:
    """The observations of every results file under folder/*/ (gzipped or not)."""
    seen: dict[str, set[str]] = {}
    entries = deviations.load(known_file, vllm_version=None).entries
    paths = sorted(p for pattern in PATTERNS for p in Path(folder).glob(pattern))
    for path in paths:
        data = path.read_bytes()
        doc = json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)
        for dev_id, versions in seen_in(doc, entries).items():
            seen.setdefault(dev_id, set()).update(versions)
    return Observations(seen, [str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in paths])


@lru_cache(maxsize=1)
def recorded() -> Observations:
    """The suite's recorded runs (docs/), read once per process."""
    return load()


def _version_key(version: str):
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)
