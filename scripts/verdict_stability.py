#!/usr/bin/env python3
"""Verdict stability: the same selection run K times must give every check the same outcome.

    scripts/verdict_stability.py --runs 3 --command conformance -- -m model_230m -k tool_calls
    scripts/verdict_stability.py --compare A/results.json B/results.json C/results.json

--runs runs `./run COMMAND [PYTEST ARGS] --reports=reports/stability/run-<i>` K times in a row (log in
that folder), then compares the runs' results.json; --compare compares results.json files of earlier
runs (e.g. one per clean clone). Records are matched by lfm_conformance.report.results.record_key.
A check moved when its status differs between runs or it has a record in one run and not in another;
the figures of MEASURED records are not compared (they are measurements), their status is; a verdict
that differs between runs is instability too. Printed: each moved check with every run's status,
reason and evidence (first lines), each run's verdict, what tells the runs' builds apart (suite
commit, matrix, vLLM, selection: a note, not a verdict), and one summary line. Exit status: 0 stable,
1 something moved, 2 bad input (the file is named). With --command tests, the CI selection that
./run tests runs on the other vLLM releases reports into reports/vllm-<version>/ and is not compared.
A moving outcome is a defect of the suite (README: "Stable results before they count").
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
try:
    from lfm_conformance.report import grid, merge, results
except ImportError:  # a python3 without the suite's packages: run again in the suite's environment
    if __name__ != "__main__" or os.environ.get("LFMC_STABILITY_REEXEC"):
        raise
    venv = subprocess.run([str(ROOT / "scripts" / "bootstrap.sh")], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.splitlines()[-1]
    os.environ["LFMC_STABILITY_REEXEC"] = "1"
    python = str(Path(venv) / "bin" / "python")
    os.execv(python, [python, __file__, *sys.argv[1:]])

RUNS_DIR = ROOT / "reports" / "stability"
EVIDENCE_LINES = 3  # evidence lines shown per run of a moved check
LINE_CHARS = 160
NO_RECORD = "no record"


class BadInput(Exception):
    """A results file that is missing, unreadable or not a results.json: the message names it."""


def load(path: Path) -> dict:
    try:
        doc = merge.load(path)
    except merge.MergeError as exc:
        raise BadInput(str(exc)) from None
    seen = set()
    for rec in doc["records"]:
        key = results.record_key(rec)
        if key in seen:  # one run holds each check once: two would hide one's outcome
            raise BadInput(f"{path}: two records of {_cell(rec)}")
        seen.add(key)
    return doc


def compare(docs: list[dict]) -> dict:
    """The runs' outcomes side by side: {"checks": distinct checks, "moved": [{"record": one of its
    records, "outcomes": [record or None per run]}], "verdicts": [verdict per run]}. Only statuses and
    presence are compared: figures, reasons and durations may differ between identical outcomes."""
    by_run = [{results.record_key(r): r for r in doc["records"]} for doc in docs]
    keys = list(dict.fromkeys(k for run in by_run for k in run))
    moved = []
    for key in keys:
        outcomes = [run.get(key) for run in by_run]
        if len({rec["status"] if rec else None for rec in outcomes}) > 1:
            moved.append({"record": next(r for r in outcomes if r), "outcomes": outcomes})
    return {"checks": len(keys), "moved": moved, "verdicts": [doc["summary"]["verdict"] for doc in docs],
            "builds": build_differences(docs)}


def build_differences(docs: list[dict]) -> list[str]:
    """What tells the runs' builds or selections apart: outcomes compared across them may move for that."""
    def described(doc: dict) -> dict:
        runs = doc["runs"]
        return {"suite commit": sorted({str(r["suite_commit"])[:12] + "+dirty" * bool(r["suite_dirty"]) for r in runs}),
                "matrix": sorted({r["matrix_sha256"][:12] for r in runs}),
                "vLLM": sorted({str(r["environment"]["vllm"]) for r in runs}),
                "where": sorted({r["where"] for r in runs}),
                "selection": sorted({f"-m {s['markers']!r} -k {s['keywords']!r}" for s in (r["selection"] for r in runs)})}
    each = [described(doc) for doc in docs]
    return [f"{what}: {' / '.join(', '.join(d[what]) for d in each)}" for what in each[0]
            if any(d[what] != each[0][what] for d in each)]


def stable(outcome: dict) -> bool:
    return not outcome["moved"] and len(set(outcome["verdicts"])) == 1


def render(outcome: dict, labels: list[str]) -> list[str]:
    """What a reader acts on: every moved check with each run's outcome, the verdicts, one summary line."""
    lines = []
    for entry in outcome["moved"]:
        lines.append(f"moved: {_cell(entry['record'])}")
        for label, rec in zip(labels, entry["outcomes"]):
            if rec is None:
                lines.append(f"  {label}: {NO_RECORD}")
                continue
            reason = _first(rec["reason"])
            # the label (a file path, any length) whole; the reason trimmed to the line's width
            lines.append(f"  {label}: {grid.SYMBOL[rec['status']]}" + (f"  {_trim(reason)}" if reason else ""))
            evidence = [line for line in (rec["evidence"] or "").splitlines()
                        if line.strip() and line.strip() != reason]  # the reason is shown above
            lines += [_trim(f"      | {line}") for line in evidence[:EVIDENCE_LINES]]
    lines += [f"{label}: verdict {verdict}" for label, verdict in zip(labels, outcome["verdicts"])]
    lines += [f"note: the runs differ in {what}" for what in outcome["builds"]]
    n, k = outcome["checks"], len(labels)
    if stable(outcome):
        lines.append(f"stable: {n} checks, identical outcomes in {k} runs")
    else:
        verdicts = "" if len(set(outcome["verdicts"])) == 1 else f"; verdict moved: {' / '.join(outcome['verdicts'])}"
        lines.append(f"UNSTABLE: {len(outcome['moved'])} of {n} checks moved in {k} runs{verdicts}")
    return lines


def _cell(rec: dict) -> str:
    return f"{rec['model']} / {rec['where']} / {rec['suite']} / {rec['check']}" + (f" [{rec['case']}]" if rec["case"] else "")


def _first(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _trim(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS - 3] + "..."


def compare_files(paths: list[Path]) -> int:
    try:
        docs = [load(p) for p in paths]
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outcome = compare(docs)
    for line in render(outcome, [f"run {i} ({p})" for i, p in enumerate(paths, 1)]):
        print(line)
    return 0 if stable(outcome) else 1


def run_times(runs: int, command: str, extra: list[str], run_command: str, out_dir: Path) -> list[Path]:
    """`RUN_COMMAND COMMAND EXTRA --reports=<out_dir>/run-<i>` K times in a row; the results files.
    The last --reports wins in pytest, so each run reports into its own folder."""
    paths = []
    for i in range(1, runs + 1):
        reports = out_dir.resolve() / f"run-{i}"  # ./run runs from the repository root
        shutil.rmtree(reports, ignore_errors=True)  # a stale results.json must not stand in for this run's
        reports.mkdir(parents=True)
        cmd = [*shlex.split(run_command), command, *extra, f"--reports={reports}"]
        started = time.monotonic()
        with open(reports / "run.log", "w") as log:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
        print(f"run {i} of {runs}: {shlex.join(cmd)}: rc {rc} in {time.monotonic() - started:.0f} s "
              f"(log {reports / 'run.log'})", flush=True)
        paths.append(reports / results.FILE_NAME)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--runs", type=int, metavar="K", help="run ./run COMMAND K times (K >= 2), then compare")
    mode.add_argument("--compare", nargs="+", type=Path, metavar="RESULTS_JSON", help="compare these results.json files")
    ap.add_argument("--command", choices=("conformance", "tests"), default="conformance", help="with --runs: ./run's command")
    ap.add_argument("--run-command", default="./run", help="with --runs: the entry point (default ./run; tests use a fake)")
    ap.add_argument("--out", type=Path, default=RUNS_DIR, help=f"with --runs: folder of run-<i>/ (default {RUNS_DIR})")
    ap.add_argument("extra", nargs="*", help="with --runs: pytest arguments (after --)")
    args = ap.parse_args(argv)
    if args.compare is not None:
        if len(args.compare) < 2 or args.extra:
            ap.error("--compare needs two or more results.json files and nothing else")
        return compare_files(args.compare)
    if args.runs < 2:
        ap.error("--runs needs K >= 2")
    return compare_files(run_times(args.runs, args.command, args.extra, args.run_command, args.out))


if __name__ == "__main__":
    sys.exit(main())
