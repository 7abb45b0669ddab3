"""The history folder: every run's results.json kept under a name that sorts by time and says what ran,
so the trend page (report/trend.py) can show how each check and guide claim moved across runs.

    python -m lfm_conformance.report.history add RESULTS.json [--history DIR]

DIR defaults to $LFMC_HOME/history (LFMC_HOME: ~/.cache/lfm-conformance). A stored file is named
<start time UTC>-vllm<version>-<GPU/target>-<suite commit>.json, e.g.
20261130T210500Z-vllm0.32.0-cpu-f999bc3.json. Adding the same run again stores nothing. Exit status:
0 stored or already stored, 2 bad input (one line on stderr naming the file and the problem).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from lfm_conformance.data.home import lfmc_home
from lfm_conformance.report import merge

COMMIT_CHARS = 7
UNSAFE = re.compile(r"[^A-Za-z0-9._+]+")  # anything else in a name part becomes "_"


class HistoryError(Exception):
    """A file cannot be stored or read as a run; the message is one line naming the file and the problem."""


def default_dir() -> Path:
    return lfmc_home() / "history"


def load(path: Path) -> dict:
    """A results document, validated against the schema, with its start time readable."""
    try:
        doc = merge.load(path)
    except merge.MergeError as exc:
        raise HistoryError(str(exc)) from None
    started(doc, path)
    return doc


# -- what a run is ---------------------------------------------------------------------------------------
def started(doc: dict, path: Path | str = "results") -> datetime:
    """When the run began: the earliest start of its runs (a merged document holds several), in UTC."""
    times = []
    for i, run in enumerate(doc["runs"]):
        try:
            when = datetime.fromisoformat(run["started"])
        except ValueError:
            raise HistoryError(f"{path}: runs[{i}].started: {run['started']!r} is not an ISO date-time") from None
        times.append(when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc))
    return min(times)


def vllm_versions(doc: dict) -> str:
    """The vLLM version(s) the runs recorded ("unknown" where none was installed where pytest ran)."""
    return "+".join(sorted({run["environment"]["vllm"] or "unknown" for run in doc["runs"]}))


def commit(doc: dict) -> str:
    """The suite commit, short, "+dirty" when a run had uncommitted changes; "nocommit" outside a checkout,
    "+"-joined when a merged document mixes commits."""
    commits = sorted({(run["suite_commit"] or "")[:COMMIT_CHARS] or "nocommit" for run in doc["runs"]})
    dirty = any(run["suite_dirty"] for run in doc["runs"])
    return "+".join(commits) + ("+dirty" if dirty else "")


def wheres(doc: dict) -> list[str]:
    """The GPUs/targets the document covers: its runs' and its records'."""
    return list(dict.fromkeys([r["where"] for r in doc["runs"]] + [r["where"] for r in doc["records"]]))


def digest(doc: dict) -> str:
    """The run's identity: a hash of its content, whatever the file's formatting."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def stored_name(doc: dict) -> str:
    parts = [started(doc).strftime("%Y%m%dT%H%M%SZ"), f"vllm{vllm_versions(doc)}", "+".join(wheres(doc)), commit(doc)]
    return "-".join(UNSAFE.sub("_", p) for p in parts) + ".json"


# -- the folder ------------------------------------------------------------------------------------------
def add(path: Path, history: Path) -> tuple[Path, bool]:
    """Store the run at `path` in `history`: (stored file, whether it was new). The same run twice is
    stored once; a different run under the same name gets its content hash appended."""
    doc = load(path)
    name, ident = stored_name(doc), digest(doc)
    target = history / name
    for candidate in (target, target.with_name(f"{target.stem}-{ident[:8]}.json")):
        if not candidate.exists():
            try:
                history.mkdir(parents=True, exist_ok=True)
                candidate.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            except OSError as exc:
                raise HistoryError(f"{candidate}: cannot write: {exc.strerror}") from None
            return candidate, True
        if _digest_of(candidate) == ident:
            return candidate, False
    raise HistoryError(f"{path}: {target.name} and its hashed variant already hold other runs in {history}")


def files(history: Path) -> list[Path]:
    """The stored runs, oldest first (the names sort by start time)."""
    if not history.is_dir():
        raise HistoryError(f"{history}: no such history folder (store a run with: python -m "
                           f"lfm_conformance.report.history add reports/results.json --history {history})")
    found = sorted(history.glob("*.json"))
    if not found:
        raise HistoryError(f"{history}: the history holds no results files (store a run with: python -m "
                           f"lfm_conformance.report.history add reports/results.json --history {history})")
    return found


def _digest_of(path: Path) -> str | None:
    try:
        return digest(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.history",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_cmd = commands.add_parser("add", help="store a run's results.json in the history folder")
    add_cmd.add_argument("results", type=Path, help="a results.json (e.g. reports/results.json)")
    add_cmd.add_argument("--history", type=Path, default=None, help=f"history folder (default: {default_dir()})")
    args = parser.parse_args(argv)
    history = args.history or default_dir()
    try:
        stored, new = add(args.results, history)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'stored' if new else 'already stored'}: {stored}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
