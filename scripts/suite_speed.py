#!/usr/bin/env python3
"""The suite's own cost: time a `./run conformance`-equivalent run phase by phase and print a table.

Phases: install check (scripts/bootstrap.sh), fixture build/cache (python -m fixtures.build), the
pytest run (suites, -n 2, perf included); then, from the run's reports, each server's start (ready)
time, lifetime and tests (reports/servers.jsonl, results.json), each suite's summed test time (JUnit
XML), servers started vs distinct configurations, the machine's idle CPU share during pytest, the
floor (one vLLM import per server); the `pytest -n 2` speed-up over `-n 0` on a small subset; and the
start-up of one configuration in the old (mp executor) and the new (uni executor) serving mode side
by side, alternating, all measured in this invocation. Not a test: it prints figures so a regression
in the suite's cost shows.

    scripts/suite_speed.py                       # the full CPU run + the -n speed-up on -m model_230m
    scripts/suite_speed.py -m model_230m         # a subset (any pytest -m expression)
    scripts/suite_speed.py --speedup-subset ""   # skip the -n 0 / -n 2 comparison
    scripts/suite_speed.py -m model_vl_1_6b --speedup-subset model_vl_1_6b -- -k loading   # extra pytest args
    scripts/suite_speed.py --only-startup --startup-rounds 3   # just the serving-mode side-by-side
    scripts/suite_speed.py --command tests       # the README command itself (./run tests), timed line by line
    scripts/suite_speed.py --command conformance --repeat 2 -- -m model_1_2b --reuse-servers   # cold, then warm

--command times `./run NAME [ARGS]` as a user runs it (from a clean clone, to measure a new user's
run): its phases from its own output (environment, fixtures, each pytest run), then the servers and
suites of its reports, and each figure against the issue's target for it (TARGETS).

Figures on a shared machine are noisy: compare runs made on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 7 * 60  # the full CPU matrix on 2 cores, environment and fixtures in place
STARTUP_TARGET_S = 25  # one tiny-model server, idle machine
# The speed issue's targets (2 cores), seconds: one place.
TARGETS = {
    "conformance, set-up included (fresh machine)": 12 * 60,
    "conformance, environment and fixtures in place": TARGET_S,
    "tests, environment and fixtures in place": 12 * 60,
    "-m model_1_2b, cold": 4 * 60,
    "-m model_1_2b, second run with --reuse-servers": 60,
}
OLD_MODE = {"drop_args": ("--distributed-executor-backend", "uni"), "env": {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}}


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def import_floor(python: str, env: dict) -> float:
    """Seconds to import the vLLM API server module once: what every server start pays at least."""
    start = time.monotonic()
    subprocess.run([python, "-c", "import vllm.entrypoints.openai.api_server"], cwd=ROOT, env=env,
                   capture_output=True, check=False)
    return time.monotonic() - start


def startup_modes(python: str, env: dict, rounds: int, logs: Path, model_name: str = "LFM2.5-1.2B-Instruct") -> list[tuple[str, float]]:
    """Ready times of one configuration in the old and the new serving mode, alternating."""
    code = f"""
import dataclasses, json, sys
from pathlib import Path
from lfm_conformance.data import matrix as M
from lfm_conformance.serving.server import VllmServer
from fixtures import build
mx = M.load(); model = mx.models[{model_name!r}]; new = mx.serve_config(model, "cpu")
drop = {OLD_MODE['drop_args']!r}
args = [a for i, a in enumerate(new.args) if tuple(new.args[i:i + 2]) != drop and tuple(new.args[i - 1:i + 1]) != drop]
old = dataclasses.replace(new, name=new.name + "+old-mode", args=tuple(args), env={{**new.env, **{OLD_MODE['env']!r}}})
path = build.ensure(model.fixture, mx)
for _ in range({rounds}):
    for label, cfg in (("old: mp executor, 3 processes", old), ("new: uni executor, 2 processes", new)):
        with VllmServer(cfg, path, Path({str(logs)!r})) as server:
            print(json.dumps([label, server.ready_s]), flush=True)
"""
    out = subprocess.run([python, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    return [tuple(json.loads(line)) for line in out.stdout.splitlines() if line.startswith("[")]


def tests_per_config(reports: Path) -> collections.Counter:
    try:
        records = json.loads((reports / "results.json").read_text())["records"]
    except (OSError, ValueError, KeyError):
        return collections.Counter()
    return collections.Counter(r.get("config") for r in records)


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, int, str]:
    """Run `cmd` from the repository root; (seconds, exit code, last stdout line). Output goes to `log`."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=out, text=True)
    out_text = proc.stdout
    log.write_text(log.read_text() + out_text)
    lines = [line for line in out_text.splitlines() if line.strip()]
    return time.monotonic() - start, proc.returncode, lines[-1] if lines else ""


def pytest_cmd(python: str, reports: Path, workers: int, mark: str | None, extra: list[str]) -> list[str]:
    cmd = [python, "-m", "pytest", "suites", "-n", str(workers), "--perf", "-p", "no:randomly", "-q",
           f"--reports={reports}", f"--junitxml={reports / 'junit.xml'}"]
    return cmd + (["-m", mark] if mark else []) + extra


def server_records(reports: Path) -> list[dict]:
    """The run's server events (reports/servers.jsonl), none if it has no such file."""
    path = reports / "servers.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def servers(reports: Path) -> tuple[list[dict], int, int]:
    """Per configuration: ready time and lifetime; plus servers started and distinct configurations."""
    records = server_records(reports)
    started = {}
    rows = []
    for rec in records:
        if rec["event"] == "started":
            started[(rec["config"], rec["pid"])] = rec
        elif rec["event"] in ("stopped", "failed"):
            first = started.get((rec["config"], rec["pid"]))
            rows.append({"config": rec["config"], "worker": rec.get("worker"), "event": rec["event"],
                         "ready_s": rec.get("ready_s"),
                         "lifetime_s": rec["time"] - first["time"] if first else None})
    n_started = sum(1 for r in records if r["event"] == "started")
    return rows, n_started, len({r["config"] for r in records if r["event"] == "started"})


def suites(junit: Path) -> list[tuple[str, int, float, collections.Counter]]:
    """Per suite file: tests, summed time (setup, incl. server starts, + call + teardown), outcomes."""
    if not junit.exists():
        return []
    per = collections.defaultdict(lambda: [0, 0.0, collections.Counter()])
    for case in ET.parse(junit).getroot().iter("testcase"):
        suite = case.get("classname", "?").rsplit(".", 1)[-1]
        row = per[suite]
        row[0] += 1
        row[1] += float(case.get("time") or 0)
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        row[2][outcome] += 1
    return sorted(((s, n, t, c) for s, (n, t, c) in per.items()), key=lambda r: -r[2])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", dest="mark", default=None, help="pytest -m expression for the main run (default: all)")
    ap.add_argument("--speedup-subset", default="model_230m",
                    help="-m expression timed with -n 0 and -n 2 (empty: skip; default: model_230m)")
    ap.add_argument("--reports", default=None, help="report folder (default: a new temporary folder)")
    ap.add_argument("--startup-rounds", type=int, default=2, help="old/new serving-mode start-ups, alternating (0: skip)")
    ap.add_argument("--only-startup", action="store_true", help="measure the serving-mode side-by-side only")
    ap.add_argument("--installers", action="store_true",
                    help="only: build the environment from nothing with pip and with uv (no caches), one after the other")
    ap.add_argument("--command", choices=("conformance", "tests"), default=None,
                    help="time the README command ./run NAME [extra args] itself, phase by phase, against TARGETS")
    ap.add_argument("--repeat", type=int, default=1, help="with --command: run it this many times in a row")
    ap.add_argument("extra", nargs="*", help="more pytest arguments for every run (after --)")
    args = ap.parse_args(argv)
    work = Path(args.reports or tempfile.mkdtemp(prefix="lfmc-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    env.setdefault("LFMC_HOME", str(Path.home() / ".cache" / "lfm-conformance"))
    phases = []
    if args.installers:
        return installers(env, work)
    if args.command:
        return command_runs(args.command, args.extra, args.repeat, env, work)

    seconds, rc, venv = timed(["scripts/bootstrap.sh"], env, work / "bootstrap.log")
    phases.append(("install check (scripts/bootstrap.sh)", seconds, rc))
    python = str(Path(venv) / "bin" / "python")
    seconds, rc, _ = timed([python, "-m", "fixtures.build"], env, work / "fixtures.log")
    phases.append(("fixture build/cache (fixtures.build)", seconds, rc))
    if args.only_startup:
        return print_startup(startup_modes(python, env, args.startup_rounds, work / "startup-logs"),
                             import_floor(python, env))
    main_reports = work / "run"
    idle0, total0 = cpu_times()
    seconds, rc, summary = timed(pytest_cmd(python, main_reports, 2, args.mark, args.extra), env, work / "pytest.log")
    idle1, total1 = cpu_times()
    phases.append((f"pytest suites -n 2 --perf{' -m ' + args.mark if args.mark else ''} {' '.join(args.extra)}", seconds, rc))
    run_s = seconds
    floor = import_floor(python, env)

    speedup = []
    if args.speedup_subset:
        for workers in (0, 2):
            seconds, rc, _ = timed(pytest_cmd(python, work / f"n{workers}", workers, args.speedup_subset, args.extra), env,
                                   work / f"pytest-n{workers}.log")
            speedup.append((workers, seconds, rc))

    out = print
    out(f"\n== suite speed ({os.cpu_count()} CPUs; reports in {work}) ==")
    out(f"{'phase':<58} {'seconds':>8}  rc")
    for name, seconds, rc in phases:
        out(f"{name:<58} {seconds:8.1f}  {rc}")
    total = sum(s for _, s, _ in phases)
    out(f"{'total':<58} {total:8.1f}")
    out(f"pytest summary: {summary}")
    out(f"idle CPU during pytest: {100 * (idle1 - idle0) / max(1, total1 - total0):.0f}% of {os.cpu_count()} cores")
    rows, n_started, n_configs = servers(main_reports)
    per_config = tests_per_config(main_reports)
    out(f"\n{'server configuration':<78} {'worker':<6} {'ready s':>8} {'alive s':>8} {'tests':>6}")
    for row in sorted(rows, key=lambda r: -(r["lifetime_s"] or 0)):
        ready = f"{row['ready_s']:.1f}" if row["ready_s"] else row["event"]
        alive = f"{row['lifetime_s']:.1f}" if row["lifetime_s"] is not None else "-"
        out(f"{row['config']:<78} {str(row['worker']):<6} {ready:>8} {alive:>8} {per_config.get(row['config'], 0):>6}")
    ready_sum = sum(r["ready_s"] or 0 for r in rows)
    out(f"servers started: {n_started} for {n_configs} distinct configurations; summed start time {ready_sum:.1f} s; "
        f"floor: one vLLM import per server = {floor:.1f} s x {n_started} = {floor * n_started:.0f} s")
    out(f"\n{'suite':<28} {'tests':>6} {'summed s':>9}  outcomes")
    for suite, n, seconds, outcomes in suites(main_reports / "junit.xml"):
        out(f"{suite:<28} {n:>6} {seconds:9.1f}  {dict(outcomes)}")
    if speedup:
        (_, s0, rc0), (_, s2, rc2) = speedup
        out(f"\n-m {args.speedup_subset} {' '.join(args.extra)}: -n 0 {s0:.1f} s (rc {rc0}), -n 2 {s2:.1f} s "
            f"(rc {rc2}); speed-up x{s0 / s2:.2f}")
    if args.startup_rounds:
        print_startup(startup_modes(python, env, args.startup_rounds, work / "startup-logs"), floor)
    scope = "full CPU matrix" if not (args.mark or args.extra) else f"subset -m {args.mark} {' '.join(args.extra)}"
    verdict = "within" if total <= TARGET_S else "OVER"
    out(f"\n{scope}: {total:.0f} s end to end ({run_s:.0f} s of pytest); target {TARGET_S} s: {verdict}")
    return 0


def run_lines(cmd: list[str], env: dict, log: Path) -> tuple[list[tuple[float, str]], int]:
    """Run `cmd`, stdout and stderr together; ([(seconds since start, line)], exit code)."""
    start, lines = time.monotonic(), []
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            lines.append((time.monotonic() - start, line.rstrip("\n")))
        rc = proc.wait()
    lines.append((time.monotonic() - start, "(end)"))
    return lines, rc


PYTEST_SUMMARY = re.compile(r"\b\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s")


def phase_ended(line: str) -> str | None:
    """The phase a line of ./run's output (or its tools') ends, if it ends one."""
    if line.startswith("environment: reusing"):
        return "environment (in place)"
    if line.startswith("environment: ready in"):
        return "environment build"
    if line.startswith("fixtures ready in"):
        return "fixtures (cached)" if "(0 built)" in line else "fixture build"
    if line.startswith("set-up before tests"):
        return "set-up, rest"
    if line.startswith("vLLM ") and "the CI selection" in line:  # the next release begins
        return "pytest"
    return None


def phases_of(lines: list[tuple[float, str]]) -> list[tuple[str, float, str]]:
    """(name, seconds, the line that ended it) per phase; what follows the last one is pytest."""
    phases, begun = [], 0.0
    for at, line in lines:
        name = phase_ended(line) or ("pytest" if line == "(end)" else None)
        if name:
            phases.append((name, at - begun, line))
            begun = at
    return phases


def command_runs(name: str, extra: list[str], repeat: int, env: dict, work: Path) -> int:
    """Time `./run NAME EXTRA` (repeat times), phase by phase, and judge each run against TARGETS."""
    env = {**env, "CI": env.get("CI", "true")}
    worst = 0
    for round_ in range(1, repeat + 1):
        idle0, total0 = cpu_times()
        lines, rc = run_lines(["./run", name, *extra], env, work / f"run-{name}-{round_}.log")
        idle1, total1 = cpu_times()
        worst = max(worst, rc)
        total = lines[-1][0]
        phases = phases_of(lines)
        built = sum(seconds for phase, seconds, _ in phases if phase in ("environment build", "fixture build"))
        print(f"\n== ./run {name} {' '.join(extra)} (run {round_} of {repeat}; {os.cpu_count()} CPUs; "
              f"log {work / f'run-{name}-{round_}.log'}) ==")
        for phase, seconds, last in phases:
            print(f"  {phase:<26} {seconds:8.1f} s   {last[:90]}")
        print(f"  {'total':<26} {total:8.1f} s   rc {rc}")
        for _, line in lines:
            if PYTEST_SUMMARY.search(line):
                print(f"  pytest: {line.strip(' =')}")
        print(f"  idle CPU: {100 * (idle1 - idle0) / max(1, total1 - total0):.0f}% of {os.cpu_count()} cores")
        records = server_records(ROOT / "reports")  # the default release's run
        events = collections.Counter(r["event"] for r in records)
        ready = [r["ready_s"] for r in records if r["event"] == "ready" and r.get("ready_s")]
        spread = f"; ready {min(ready):.1f}-{max(ready):.1f} s, mean {sum(ready) / len(ready):.1f} s" if ready else ""
        print(f"  servers (default vLLM): {', '.join(f'{n} {e}' for e, n in events.items()) or 'none'}{spread}")
        for label, seconds in judged(name, extra, round_, total, built):
            target = TARGETS[label]
            print(f"  target {label}: {seconds:.0f} s vs {target} s: {'within' if seconds <= target else 'OVER'}")
    if "--reuse-servers" in extra:
        subprocess.run(["./run", "stop-servers"], cwd=ROOT, env=env, check=False)
    return worst


def judged(name: str, extra: list[str], round_: int, total: float, built: float) -> list[tuple[str, float]]:
    """The TARGETS a run of ./run NAME EXTRA is measured against, with the figure for each: the
    in-place figure of a run that built something is its total less the build phases."""
    if "model_1_2b" in extra:
        warm = round_ > 1 and "--reuse-servers" in extra
        return [("-m model_1_2b, second run with --reuse-servers" if warm else "-m model_1_2b, cold", total)]
    if extra:
        return []  # a subset: no target
    if name == "tests":
        return [("tests, environment and fixtures in place", total - built)]
    out = [("conformance, environment and fixtures in place", total - built)]
    if built:
        out.insert(0, ("conformance, set-up included (fresh machine)", total))
    return out


def installers(env: dict, work: Path) -> int:
    """scripts/bootstrap.sh from nothing with each installer (same pins, no download caches)."""
    import shutil

    rows = []
    for tool in ("pip", "uv"):
        home = work / f"env-{tool}"
        shutil.rmtree(home, ignore_errors=True)
        run_env = {**env, "LFMC_HOME": str(home), "LFMC_INSTALLER": tool, "PIP_NO_CACHE_DIR": "1", "UV_NO_CACHE": "1"}
        seconds, rc, venv = timed(["scripts/bootstrap.sh"], run_env, work / f"bootstrap-{tool}.log")
        rows.append((tool, seconds, rc))
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nenvironment from nothing (the same hash-pinned lock, requirements/vllm/<newest>.lock; no download "
          f"caches; logs in {work})")
    for tool, seconds, rc in rows:
        print(f"  {tool:<4} {seconds:7.1f} s  rc {rc}")
    (_, pip_s, _), (_, uv_s, _) = rows
    print(f"  uv / pip: {uv_s / pip_s:.2f}")
    return 0


def print_startup(measured: list[tuple[str, float]], floor: float) -> int:
    print(f"\nserver start-up, one configuration, old and new serving mode alternating (floor: one import {floor:.1f} s)")
    by_mode = collections.defaultdict(list)
    for label, seconds in measured:
        by_mode[label].append(seconds)
    for label, values in by_mode.items():
        print(f"  {label:<34} " + ", ".join(f"{v:.1f}" for v in values) + f"  (mean {sum(values) / len(values):.1f} s)")
    if len(by_mode) == 2:
        (_, old), (_, new) = by_mode.items()
        mean_new = sum(new) / len(new)
        print(f"  new / old: {mean_new / (sum(old) / len(old)):.2f}; target <= {STARTUP_TARGET_S} s per tiny-model "
              f"configuration on an idle machine: {'within' if mean_new <= STARTUP_TARGET_S else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
