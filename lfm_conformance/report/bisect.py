"""Bisect one vLLM-defect finding over the releases of matrix.yaml `vllm.versions`.

    python -m lfm_conformance.report.bisect ID [--versions V ...] [--build] [--timeout S] [--no-save]

ID is a parser finding's id (suites/parser_findings.yaml) or a vLLM-owned known deviation's (see
`python -m lfm_conformance.report.upstream --list`). Its standalone reproduction (the same `repro.py` the
upstream writer generates) runs with each release's Python (`$LFMC_HOME/venv-vllm<version>-<hash>`,
built by `scripts/bootstrap.sh` with `LFMC_VLLM=<version>`): exit 1 = the defect reproduces there (bad),
0 = it does not (good), 2 or a timeout = not run. A release whose environment is missing is reported
"not run: environment missing, build it with ..." unless `--build` is given (several minutes, ~6 GB each).

It prints each release's result and first bad / last good (and fixed in, where a later release stopped
reproducing it), and keeps the result beside the finding, in `suites/bisect/<ID>.json` (merged with the
releases recorded before for the same script), where the issue drafts read it. Exit 0 when every
release ran, 1 when some did not, 2 on bad input.

`run_repros(python, paths)` runs several reproductions in one process of `python` (one vLLM import),
as the CI test does.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.version import Version

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.data.home import lfmc_home
from lfm_conformance.report import upstream

ROOT = upstream.ROOT
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
STATUS = {1: "reproduces", 0: "does not reproduce"}


def matrix_versions() -> list[str]:
    """matrix.yaml's vLLM versions, oldest first."""
    return sorted(matrix_mod.load().vllm_versions, key=Version)


def build_command(version: str) -> str:
    return f"LFMC_VLLM={version} scripts/bootstrap.sh"


def find_env(version: str, home: Path | None = None) -> Path | None:
    """The newest complete environment of a version under LFMC_HOME (its python), None when missing."""
    envs = sorted((p for p in (home or lfmc_home()).glob(f"venv-vllm{version}-*") if (p / ".complete").exists()),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    return envs[0] / "bin" / "python" if envs else None


def build_env(version: str) -> Path:
    out = subprocess.run(["bash", str(BOOTSTRAP)], cwd=ROOT, env={**os.environ, "LFMC_VLLM": version},
                         stdout=subprocess.PIPE, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1]) / "bin" / "python"


def run_repro(python: Path | str, repro: Path, timeout: float, args: list[str] | None = None) -> dict:
    """One run of a reproduction: {"exit", "status", "seconds", "output" (its tail)}."""
    started = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run([str(python), str(repro), *(args or [])], cwd=tempfile.gettempdir(), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"exit": None, "status": f"not run: timed out after {timeout:.0f} s",
                "seconds": round(time.time() - started, 1), "output": ""}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode not in (0, 1):  # why it could not run: the traceback is on stderr
        lines += [line for line in proc.stderr.splitlines() if line.strip()][-6:]
    return {"exit": proc.returncode, "status": status_of(proc.returncode, proc.stdout),
            "seconds": round(time.time() - started, 1), "output": "\n".join(lines[-12:])}


def status_of(exit_code, output: str) -> str:
    """A run's status: reproduces / does not reproduce / not exercised (exit 0, the input hit another
    defect first: no verdict on this one) / not run."""
    lines = [line for line in output.splitlines() if line.strip()]
    if exit_code == 0 and any(line.startswith("NOT EXERCISED") for line in lines):
        return "not exercised: " + next(line for line in lines if line.startswith("NOT EXERCISED")).split(": ", 1)[-1]
    return STATUS.get(exit_code) or f"not run: exit {exit_code}: {(lines or [''])[-1][:200]}"


def judged(result: dict) -> bool:
    """Whether a release's run says anything about the defect (it ran and exercised it)."""
    return result.get("exit") in (0, 1) and not str(result.get("status", "")).startswith("not exercised")


RUNNER = r"""
import contextlib, io, json, runpy, sys, time, traceback
for path in sys.argv[1:]:
    buf, started = io.StringIO(), time.time()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            rc = runpy.run_path(path, run_name="repro")["main"]([])
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            traceback.print_exc()
            rc = "crashed"
    print("@@REPRO@@" + json.dumps({"path": path, "exit": rc, "seconds": round(time.time() - started, 1),
                                    "output": buf.getvalue()[-2000:]}), flush=True)
"""


def run_repros(python: Path | str, paths: list[Path], timeout: float = 600) -> dict[str, dict]:
    """Several in-process reproductions in one process of `python` (vLLM imported once): path -> result."""
    proc = subprocess.run([str(python), "-c", RUNNER, *map(str, paths)], cwd=tempfile.gettempdir(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@REPRO@@"):
            row = json.loads(line[len("@@REPRO@@"):])
            results[row.pop("path")] = row
    missing = [str(p) for p in paths if str(p) not in results]
    if missing:
        raise RuntimeError(f"runner (exit {proc.returncode}) reported nothing for {missing}: {proc.stderr[-2000:]}")
    return results


def summarize(results: dict[str, dict]) -> dict:
    """first bad / last good (before it) / last bad / fixed in, over the releases that ran, oldest first."""
    ran = [(v, r["exit"]) for v, r in sorted(results.items(), key=lambda kv: Version(kv[0])) if judged(r)]
    first_bad = next((v for v, rc in ran if rc == 1), None)
    summary = {"first_bad": first_bad, "last_good": None, "last_bad": None, "fixed_in": None}
    if first_bad is None:
        summary["last_good"] = ran[-1][0] if ran else None
        return summary
    before = [v for v, rc in ran if rc == 0 and Version(v) < Version(first_bad)]
    summary["last_good"] = before[-1] if before else None
    bad = [v for v, rc in ran if rc == 1]
    summary["last_bad"] = bad[-1]
    after = [v for v, rc in ran if rc == 0 and Version(v) > Version(bad[-1])]
    summary["fixed_in"] = after[0] if after else None
    return summary


def describe(summary: dict, results: dict[str, dict]) -> list[str]:
    lines = []
    if summary["first_bad"] is None:
        lines.append("first bad: none (it reproduces on none of the releases run)")
    else:
        oldest_run = min((v for v, r in results.items() if judged(r)), key=Version)
        lines.append(f"first bad: {summary['first_bad']}" + (" (the oldest release judged)" if summary["first_bad"] == oldest_run
                                                              and summary["last_good"] is None else ""))
    lines.append(f"last good: {summary['last_good'] or 'none of the releases run before the first bad one'}")
    if summary.get("fixed_in"):
        lines.append(f"fixed in: {summary['fixed_in']} (last bad {summary['last_bad']})")
    gaps = [v for v, r in results.items() if not judged(r)]
    if gaps:
        lines.append(f"not judged (not run or not exercised): {', '.join(sorted(gaps, key=Version))} "
                     "(the boundaries above may lie between them)")
    return lines


def record_path(report_id: str, folder: Path = upstream.BISECT_DIR) -> Path:
    return folder / f"{report_id}.json"


def save(report_id: str, kind: str, digest: str, results: dict[str, dict], folder: Path = upstream.BISECT_DIR) -> dict:
    """Merge this bisect into the finding's record (releases run before with the same script kept where
    this run did not run them) and write it."""
    path = record_path(report_id, folder)
    old = {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    versions = dict(old.get("versions", {})) if old.get("repro_sha256") == digest else {}
    for version, result in results.items():
        if judged(result) or version not in versions:
            versions[version] = {k: result[k] for k in ("status", "exit", "seconds")}
    versions = dict(sorted(versions.items(), key=lambda kv: Version(kv[0])))
    record = {"id": report_id, "kind": kind, "repro_sha256": digest,
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
              "command": f"python -m lfm_conformance.report.bisect {report_id}",
              "versions": versions, **summarize(versions)}
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def bisect(report, versions: list[str], build: bool, timeout: float, log=print) -> dict[str, dict]:
    script = upstream.render_repro(report)
    results = {}
    with tempfile.TemporaryDirectory(prefix=f"bisect-{report.key}-") as tmp:
        repro = Path(tmp) / "repro.py"
        repro.write_text(script, encoding="utf-8")
        for version in versions:
            python = find_env(version)
            if python is None and build:
                log(f"vLLM {version}: building its environment ({build_command(version)})")
                python = build_env(version)
            if python is None:
                result = {"exit": None, "seconds": 0.0, "output": "",
                          "status": f"not run: environment missing, build it with `{build_command(version)}` "
                                    "(or pass --build)"}
            else:
                result = run_repro(python, repro, timeout)
            results[version] = result
            log(f"vLLM {version}: {result['status']}" + (f" (exit {result['exit']}, {result['seconds']} s)"
                                                          if result["exit"] is not None else ""))
            if result["output"]:
                log("    " + result["output"].replace("\n", "\n    "))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lfm_conformance.report.bisect", description=__doc__.splitlines()[0])
    ap.add_argument("id", help="parser finding id or vLLM-owned known deviation id")
    ap.add_argument("--versions", nargs="+", help="releases to run (default: matrix.yaml vllm.versions)")
    ap.add_argument("--build", action="store_true", help="build missing environments (scripts/bootstrap.sh)")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per release (default %(default)s)")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {upstream.BISECT_DIR.relative_to(ROOT)}/ID.json")
    args = ap.parse_args(argv)
    try:
        reports = upstream.select(upstream.build_reports(), [args.id])
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = next((r for r in reports if r.id == args.id), reports[0])  # a finding's reports share one script
    if report.kind == "none":
        print(f"error: {report.id} has no standalone reproduction to bisect: {report.why_no_repro}", file=sys.stderr)
        return 2
    if report.kind == "findings":
        print(f"error: {report.id} is made of parser findings; bisect each of them: "
              f"{', '.join(fid for fid, _ in report.causes)}", file=sys.stderr)
        return 2
    try:
        versions = sorted(args.versions or matrix_versions(), key=Version)
    except matrix_mod.MatrixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bisect {report.key} ({report.kind}, {report.owner}; recorded on vLLM {', '.join(report.version_ranges())}) "
          f"over {', '.join(versions)}")
    results = bisect(report, versions, args.build, args.timeout)
    digest = hashlib.sha256(upstream.render_repro(report).encode("utf-8")).hexdigest()
    if args.no_save:
        summary, shown = summarize(results), results
    else:
        record = save(report.key, report.kind, digest, results)
        summary, shown = record, {v: {**r} for v, r in record["versions"].items()}
        print(f"recorded: {record_path(report.key).relative_to(ROOT)}")
    for line in describe(summary, shown):
        print(line)
    return 0 if all(r["exit"] in (0, 1) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
