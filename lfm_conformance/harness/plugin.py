"""pytest plugin: matrix-driven parametrization, markers, one server per configuration, known
deviations as strict expected failures, and the model x check grid at the end."""
from __future__ import annotations

import dataclasses
import itertools
import json
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.data import deviations
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.harness import outcomes
from lfm_conformance.harness.quiet import QuietMachine
from lfm_conformance.report import grid, results
from lfm_conformance.serving import cpu_shims
from lfm_conformance.serving import gpu as gpu_mod
from lfm_conformance.serving import keeper as keeper_mod
from lfm_conformance.serving import preflight
from lfm_conformance.serving.pool import ServerPool
from lfm_conformance.serving.remote import NEEDS_CONTROL, RemoteEndpoint, RemoteError
from lfm_conformance.serving.server import ServerError
from lfm_conformance.workloads import robustness

ROOT = Path(__file__).resolve().parents[2]
STATIC_MARKERS = {
    "requires(capability)": "the test applies only to models with this capability (others: not applicable)",
    "serve_config(extra_args=(), drop_flag_sets=(), variant=None, extra_env={})": "run the test on a server with "
    "extra arguments or environment, without some documented flag sets, or (CPU) on a fixture variant such as "
    "'live-attention' (a configuration of its own, shared and stopped like any other)",
    "robustness": "the endpoint under malformed and hostile requests and abrupt clients",
    "accuracy": "lm-eval accuracy baselines from matrix.yaml `accuracy` (suites/test_accuracy.py)",
}


def pytest_addoption(parser):
    group = parser.getgroup("lfm-conformance")
    group.addoption("--matrix", default=str(matrix_mod.DEFAULT_MATRIX), help="matrix file (default: matrix.yaml)")
    group.addoption("--target", default="auto", help="target from matrix.yaml `targets` (default: auto: gpu "
                    "where nvidia-smi reports a GPU, else cpu)")
    group.addoption("--reports", default=str(ROOT / "reports"), help="report directory (default: reports/)")
    group.addoption("--deviations", default=str(deviations.DEFAULT_FILE),
                    help="known deviations file (default: suites/known_deviations.yaml)")
    group.addoption("--api-key-env", default=None, metavar="NAME",
                    help="name of an environment variable holding an API key: servers are started with "
                         "--api-key and every request sends it (the key itself never goes on a command line)")
    group.addoption("--restart-dead-servers", action="store_true", default=False,
                    help="restart a server that died mid-run once, instead of failing the rest of its "
                         "configuration's tests (default: off)")
    group.addoption("--reuse-servers", nargs="?", const=keeper_mod.IDLE_S / 60, default=None, type=float,
                    metavar="IDLE_MIN",
                    help="keep each configuration's server after the run, under a supervisor that ends it after "
                         "IDLE_MIN idle minutes (default 15), and attach to kept ones of the same command, "
                         "fixture and vLLM version instead of starting them (./run stop-servers ends them)")
    # GPU target and remote mode (lfm_conformance/serving/gpu.py, lfm_conformance/serving/remote.py)
    group.addoption("--baseline", default=None, metavar="RESULTS.json",
                    help="a run to compare this one with (e.g. the current vLLM's results.json): the sign-off gets a "
                         "release-diff section, and REPORTS/diff/ the full diff (python -m lfm_conformance.report.diff)")
    group.addoption("--gpu", default=None, help="GPU key from matrix.yaml `gpus` the run is for (default: the "
                    "GPU nvidia-smi reports; in remote mode: none, no GPU selection)")
    group.addoption("--base-url", default=None, help="remote mode: run against this already-running vLLM "
                    "endpoint (e.g. http://127.0.0.1:8000) instead of starting servers")
    group.addoption("--model", default=None, help="remote mode: the matrix.yaml model the endpoint serves")
    group.addoption("--served-model-name", default=None, help="remote mode: the name the endpoint serves the "
                    "model under (e.g. llm on the published Modal app; default: its HF id)")


def pytest_configure(config):
    try:
        matrix = matrix_mod.load(config.getoption("--matrix"))
    except matrix_mod.MatrixError as exc:
        raise pytest.UsageError(str(exc)) from None
    target = config.getoption("--target")
    if target == "auto":
        target = gpu_mod.auto_target()
    if target not in matrix.targets:
        raise pytest.UsageError(f"--target {target!r}: not in {matrix.path} targets; "
                                f"allowed values: {', '.join(matrix.targets)}")
    for name, help_text in {**matrix.markers(), **STATIC_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    reports = Path(config.getoption("--reports"))
    try:
        host_gpu, remote = _gpu_and_remote(config, matrix, target)
        vllm_version = remote.vllm_version if remote else deviations.installed_vllm_version()
        gpu_mod.check_vllm_version(vllm_version, matrix.min_vllm_version,
                                   f"the endpoint at {remote.root}" if remote else "installed vLLM")
        known = deviations.load(Path(config.getoption("--deviations")), vllm_version=vllm_version)
    except (OSError, ValueError, RemoteError, matrix_mod.MatrixError, preflight.PreflightError) as exc:
        raise pytest.UsageError(str(exc)) from None
    shim = None if remote else cpu_shims.for_run(matrix, target, vllm_version)
    config.stash[STATE] = RunState(cpu_shims.apply(matrix, shim), target, reports, known)
    config.stash[STATE].cpu_shim = shim
    try:
        config.stash[STATE].api_key = preflight.api_key_from_env(config.getoption("--api-key-env"))
        if not hasattr(config, "workerinput"):
            preflight.writable_reports_dir(reports)
    except preflight.PreflightError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(robustness.Summary(), "lfm-conformance-robustness-figures")
    config.stash[STATE].gpu, config.stash[STATE].remote = host_gpu, remote
    if not hasattr(config, "workerinput") and remote is None:
        try:  # real weights: every selected model's snapshot is in the cache, before any server starts
            _check_snapshots(config, config.stash[STATE])
        except matrix_mod.SnapshotMissing as exc:
            raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):  # the controller (or a plain run) owns the run's records
        reports.mkdir(parents=True, exist_ok=True)
        config.stash[STATE].servers_file.unlink(missing_ok=True)
    else:
        config.stash[STATE].quiet = QuietMachine(reports / "logs")
    results.register(config, config.stash[STATE])  # results.json, sign-off report, JUnit XML by default
    # SIGTERM ends the run like Ctrl-C, so fixtures finalize and servers are stopped.
    signal.signal(signal.SIGTERM, _raise_interrupt)


def _gpu_and_remote(config, matrix, target):
    """The GPU the run is for (None on CPU and in remote mode without --gpu) and the remote endpoint
    (None unless --base-url); one clear error for anything wrong with them."""
    gpu_key, base_url = config.getoption("--gpu"), config.getoption("--base-url")
    host_gpu = None
    spec = matrix.targets[target]
    # The GPU selection (nvidia-smi's GPU, the guide's GPUs per model) is for real weights on a GPU
    # target (matrix.yaml targets.*.device); a CPU target with real weights (cpu-hf) needs no GPU.
    if spec.needs_gpu and spec.weights == "hf" and (gpu_key or not base_url):
        host_gpu = gpu_mod.host_gpu(matrix, gpu_key)
    elif gpu_key:
        raise ValueError(f"--gpu {gpu_key}: only with a GPU target serving real weights (--target {target}: "
                         f"device {spec.device}, weights {spec.weights})")
    if not base_url:
        for opt in ("--model", "--served-model-name"):
            if config.getoption(opt):
                raise ValueError(f"{opt}: only in remote mode (with --base-url)")
        return host_gpu, None
    name = config.getoption("--model")
    if name not in matrix.models:
        raise ValueError(f"--model {name!r}: remote mode needs the matrix.yaml model the endpoint serves; "
                         f"allowed values: {', '.join(matrix.models)}")
    api_key = preflight.api_key_from_env(config.getoption("--api-key-env"))
    model = matrix.models[name]
    remote = RemoteEndpoint(base_url, matrix.serve_config(model, target), model.hf_id, api_key)
    remote.probe(config.getoption("--served-model-name") or model.hf_id)
    return host_gpu, remote


def pytest_report_header(config):
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    line = f"lfm-conformance: target {state.target}"
    if state.cpu_shim is not None:
        line += f" with cpu shim {state.cpu_shim} ({cpu_shims.describe(state.cpu_shim)})"
    if state.gpu is not None:
        line += f" on {state.gpu.label()}, {state.gpu.memory_gb:g} GB"
    if state.remote is not None:
        line += (f"; remote endpoint {state.remote.root} serving {state.remote.served_name} "
                 f"(vLLM {state.remote.vllm_version or 'version unknown'})")
    return line


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class RunState:
    def __init__(self, matrix, target, reports: Path, known: deviations.KnownDeviations):
        self.matrix = matrix
        self.target = target
        self.reports = reports
        self.servers_file = reports / "servers.jsonl"
        self.remaining: Counter = Counter()
        self.pool: ServerPool | None = None
        self.known = known
        self.api_key: str | None = None  # from --api-key-env
        self.gpu: gpu_mod.HostGpu | None = None  # the GPU target's GPU
        self.remote: RemoteEndpoint | None = None  # remote mode's endpoint
        self.cpu_shim: str | None = None  # matrix.yaml vllm.versions[].cpu_shim the servers load
        self.quiet: QuietMachine | None = None  # xdist: no test beside a benchmark (quiet.py)

    def served(self, model):
        """The model as requests name it: in remote mode under --served-model-name, if given."""
        if self.remote is None or self.remote.served_name == model.hf_id:
            return model
        return dataclasses.replace(model, hf_id=self.remote.served_name)

    def not_applicable(self, model, variant: dict, fixturenames=()) -> str | None:
        """Why a model's test cannot run here: GPU not supported, or in remote mode a server variant
        or a local resource the endpoint cannot reach."""
        reason = self.matrix.targets[self.target].not_applicable.get(model.name)
        if reason is not None:
            return f"not applicable on {self.target}: {reason}"
        if self.gpu is not None:
            verdict = gpu_mod.select(self.matrix, model, self.gpu)
            if not verdict.applicable:
                return gpu_mod.NOT_APPLICABLE + verdict.reason
        if self.remote is not None and variant:
            config = self.matrix.serve_config(model, self.target, **variant)
            if config.name != self.remote.config.name or variant.get("variant"):  # real weights ignore fixture variants
                shown = config.name if config.name != self.remote.config.name else variant["variant"]
                return f"{NEEDS_CONTROL}: the check runs on server variant {shown}"
        if self.remote is not None and "image_host" in fixturenames and not self.remote.is_loopback():
            return "not run: the remote endpoint cannot fetch images from this machine's 127.0.0.1 (remote mode)"
        return None


STATE = pytest.StashKey[RunState]()


def _check_snapshots(config, state: RunState) -> None:
    """A real-weights target that loads offline (HF_HUB_OFFLINE in its environment): each model the
    run may serve has its snapshot in the target's hub cache (SnapshotMissing, one line, otherwise)."""
    target = state.matrix.targets[state.target]
    if target.weights != "hf" or not matrix_mod.hub_offline(target):
        return
    for model in _models_selected(config.getoption("markexpr") or "", state):
        matrix_mod.hub_snapshot(target, model.hf_id)


def _models_selected(expr: str, state: RunState) -> list:
    """The models whose tests `-m expr` can select (each test carries its model's marker and capabilities;
    any other marker in the expression may be on a test or not), less those not applicable here."""
    models = [m for m in state.matrix.models.values() if state.not_applicable(m, {}) is None]
    if not expr.strip():
        return models
    from _pytest.mark.expression import Expression

    compiled = Expression.compile(expr)
    known = {m.marker for m in state.matrix.models.values()} | set(matrix_mod.CAPABILITIES)
    free = sorted(set(re.findall(r"[A-Za-z_][\w.-]*", expr)) - {"and", "or", "not"} - known)[:10]
    out = []
    for model in models:
        own = {model.marker, *model.capabilities}
        for bits in itertools.product((False, True), repeat=len(free)):
            values = dict(zip(free, bits))
            if compiled.evaluate(lambda name, /, **_kw: name in own or values.get(name, False)):
                out.append(model)
                break
    return out


def _state(config) -> RunState:
    return config.stash[STATE]


run_state = _state  # for suites that parametrize from the matrix themselves (e.g. test_accuracy.py)


# -- parametrization ----------------------------------------------------------------------------
def pytest_generate_tests(metafunc):
    if "model" not in metafunc.fixturenames:
        return
    state = _state(metafunc.config)
    required = [m.args[0] for m in metafunc.definition.iter_markers("requires")]
    params = []
    for model in state.matrix.models.values():
        if state.remote is not None and model.hf_id != state.remote.model_path:
            continue  # remote mode tests the one model the endpoint serves
        variant = _variant(metafunc.definition, model)
        serve = state.matrix.serve_config(model, state.target, **variant)
        marks = [getattr(pytest.mark, model.marker), pytest.mark.xdist_group(serve.name)]
        marks += [getattr(pytest.mark, cap) for cap in model.capabilities]
        missing = [cap for cap in required if not model.has(cap)]
        if missing:
            marks.append(pytest.mark.skip(
                reason=f"not applicable: {model.name} has no {'/'.join(missing)} capability in the guide"))
        elif (reason := state.not_applicable(model, variant, metafunc.fixturenames)) is not None:
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(state.served(model), id=f"{model.name}-{state.target}", marks=marks))
    metafunc.parametrize("model", params)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """After -m/-k selection: run each configuration's tests together, count them (so its server
    stops after the last one), apply known deviations, and tag reports for the grid."""
    state = _state(config)
    keyed = []
    for index, item in enumerate(items):
        model = _model_of(item)
        key = state.matrix.serve_config(model, state.target, **_variant(item)).name if model else ""
        keyed.append((key, index, item))
        check = item.originalname
        if model is not None:
            suite = item.path.stem.removeprefix("test_")
            item.user_properties += [("model", model.name), ("suite", suite), ("check", check), ("config", key)]
            case = deviations.case_id(item.callspec.id, f"{model.name}-{state.target}")
            deviation = state.known.match(check, model.name, state.target, case=case)
            if deviation is not None:
                # Only the check's own verdict matching the deviation's signature counts as the
                # deviation (outcomes.against_signature); any other failure or error stays one.
                item.stash[outcomes.DEVIATION] = deviation
                item.add_marker(pytest.mark.xfail(strict=True, raises=CheckFailed, reason=deviation.reason()))
    keyed.sort(key=lambda k: (k[0] != "", k[0], k[1]))
    items[:] = [item for _, _, item in keyed]
    state.remaining = Counter(k for k, _, _ in keyed if k)


def _variant(node, model=None) -> dict:
    marker = node.get_closest_marker("serve_config")
    if marker is None:
        return {}
    extra_args = marker.kwargs.get("extra_args", ())
    if callable(extra_args):  # arguments that depend on the model, e.g. its documented context
        extra_args = extra_args(model or _model_of(node))
    return {"extra_args": tuple(extra_args),
            "drop_flag_sets": tuple(marker.kwargs.get("drop_flag_sets", ())),
            "variant": marker.kwargs.get("variant"), "extra_env": dict(marker.kwargs.get("extra_env") or {}),
            "per_architecture": bool(marker.kwargs.get("per_architecture"))}


def _model_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("model") if callspec else None


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def matrix(request) -> matrix_mod.Matrix:
    return _state(request.config).matrix


@pytest.fixture(scope="session")
def target(request) -> str:
    return _state(request.config).target


@pytest.fixture(scope="session")
def served_vllm(request) -> str | None:
    """The vLLM version under test, which deviations are matched against: the endpoint's in remote
    mode, else the installed one."""
    return _state(request.config).known.vllm_version


@pytest.fixture(scope="session")
def server_pool(request):
    state = _state(request.config)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def log(line):
        if reporter is not None and not hasattr(request.config, "workerinput"):
            reporter.write_line(line)

    idle_min = request.config.getoption("--reuse-servers")
    keeper = keeper_mod.Keeper(idle_s=idle_min * 60) if idle_min is not None and state.remote is None else None
    state.pool = ServerPool(state.reports / "logs", lambda cfg: _model_path(state, cfg),
                            record_file=state.servers_file, log=log, api_key=state.api_key,
                            restart_dead=request.config.getoption("--restart-dead-servers"), keeper=keeper,
                            vllm_version=deviations.installed_vllm_version(), quiet=state.quiet)
    try:
        yield state.pool
    finally:
        state.pool.stop_all()


def _model_path(state: RunState, config: matrix_mod.ServeConfig) -> str:
    if config.target.weights == "fixture":
        from fixtures import build, reference

        if config.variant == reference.SUFFIX:
            return str(reference.ensure(config.source, state.matrix))
        if config.variant is not None:
            raise ValueError(f"unknown fixture variant {config.variant!r}; allowed: {reference.SUFFIX}")
        return str(build.ensure(config.source, state.matrix, log=lambda _line: None))
    return config.source


@pytest.fixture
def serve_config(request, model, matrix, target) -> matrix_mod.ServeConfig:
    config = matrix.serve_config(model, target, **_variant(request.node))
    host_gpu = _state(request.config).gpu
    return gpu_mod.serve_config(matrix, config, model, host_gpu) if host_gpu else config


@pytest.fixture
def server(request, server_pool, serve_config):
    """The running server for this test's model (in remote mode: the endpoint); the test errors
    with the log tail if it cannot start, and fails with "server died" if it dies during the test."""
    srv = _state(request.config).remote
    try:
        srv = srv or server_pool.get(serve_config)
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    if srv is not _state(request.config).remote:
        _prefetch_next(request.node, server_pool)
    yield srv
    if not srv.alive():
        server_pool.notice_death(serve_config, srv)
        pytest.fail(f"server died during the test\n{srv.log_tail()}", pytrace=False)


@pytest.fixture
def cpu_shim(request) -> str | None:
    """The cpu shim this run's servers load (matrix.yaml vllm.versions), or None."""
    return _state(request.config).cpu_shim


@pytest.fixture
def server_start(request, server_pool, serve_config) -> ServerError | None:
    """How this test's server started: None when it is healthy, else the ServerError (log tail
    included). For the loading check, whose subject is the start itself."""
    if _state(request.config).remote is not None:
        pytest.skip(f"{NEEDS_CONTROL}: the check starts the server with the documented flags")
    try:
        server_pool.get(serve_config)
    except ServerError as exc:
        return exc
    return None


def _prefetch_next(item, pool: ServerPool) -> None:
    """While this configuration's tests run, start the next configuration this process will need
    (from this xdist worker's queue, or the session's order): idle CPU put to use. Local CPU
    servers only (GPU memory is planned per server)."""
    state = _state(item.config)
    if state.gpu is not None or state.matrix.targets[state.target].weights != "fixture":
        return
    if item.get_closest_marker("perf") is not None:
        return  # a benchmark measures the machine: no start beside it (seen: 93 tok/s under load, 1076 alone)
    current = dict(item.user_properties).get("config")
    for upcoming in _queued_items(item):
        key = dict(upcoming.user_properties).get("config")
        if upcoming.get_closest_marker("perf") is not None:
            return  # nor a benchmark server started ahead, beside another worker's tests
        if key and key != current and _will_use_server(upcoming):
            model = _model_of(upcoming)
            pool.prefetch(state.matrix.serve_config(model, state.target, **_variant(upcoming)))
            return


def _will_use_server(item) -> bool:
    """Whether the item asks for a server: a skipped one (e.g. not applicable) starts none."""
    return "server" in getattr(item, "fixturenames", ()) and item.get_closest_marker("skip") is None


def _queued_items(item) -> list:
    """The items this process runs after `item`, as far as it knows them."""
    items = item.session.items
    for plugin in item.config.pluginmanager.get_plugins():
        torun = getattr(plugin, "torun", None)
        if type(plugin).__name__ == "WorkerInteractor" and torun is not None:  # xdist worker: its queue
            with torun.lock() as queued:
                indices = [getattr(plugin, "nextitem_index", None), *queued]
            return [items[i] for i in indices if isinstance(i, int)]
    try:
        return items[items.index(item) + 1:]
    except ValueError:
        return []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the test's own fixtures are finalized, stop its server if no selected test needs it."""
    yield
    state = _state(item.config)
    props = dict(item.user_properties)
    key = props.get("config")
    if not key:
        return
    state.remaining[key] -= 1
    if state.remaining[key] <= 0 and state.pool is not None:
        state.pool.release(key)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under xdist a benchmark (marker perf) runs alone on the machine, set-up included (quiet.py);
    one skipped at collection (e.g. not applicable here) measures nothing and waits for nothing."""
    quiet = _state(item.config).quiet
    if quiet is None or item.get_closest_marker("skip") is not None:
        return (yield)
    with quiet.exclusive() if item.get_closest_marker("perf") is not None else quiet.shared():
        return (yield)


# -- outcomes and the grid ----------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except CheckFailed as exc:
        outcomes.against_signature(item, exc)
        raise


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """A failure says whose it is: the thing under test's (a check) or the suite's own error."""
    report = yield
    if report.failed and call.excinfo is not None and not hasattr(report, "wasxfail"):
        kind = outcomes.failure_kind(call.excinfo.value)
        report.user_properties = [*report.user_properties, (grid.FAILURE_PROPERTY, kind)]
    return report


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if "model" not in props:
        return
    cell = grid.cell_for(report)
    if cell is None:
        return
    key = (props["model"], props["suite"], props["check"])
    _OUTCOMES[key] = grid.merge(_OUTCOMES.get(key), cell)


_OUTCOMES: dict[tuple[str, str, str], str] = {}  # (model, suite, check) -> status


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    state = _state(config)
    if _OUTCOMES:
        terminalreporter.write_sep("=", "model x behaviour grid")
        for line in grid.render(_OUTCOMES, list(state.matrix.models)):
            terminalreporter.write_line(line)
    records = _server_records(state.servers_file)
    if records:
        started = [r for r in records if r["event"] == "started"]
        configs = {r["config"] for r in started}
        ready = [r for r in records if r["event"] == "ready"]
        if started:
            terminalreporter.write_line(
                f"vLLM servers started: {len(started)} for {len(configs)} distinct configurations; "
                f"startup (s): " + ", ".join(f"{r['config']}={r['ready_s']:.1f}" for r in ready))
        attached = [r["config"] for r in records if r["event"] == "attached"]
        if attached:
            terminalreporter.write_line(f"kept vLLM servers attached (no start): {len(attached)}")
        died = [r["config"] for r in records if r["event"] == "died"]
        if died:
            terminalreporter.write_line("vLLM servers that died mid-run: " + ", ".join(died), red=True)
    if config.getoption("--reuse-servers") is not None:
        kept = keeper_mod.Keeper().records()
        terminalreporter.write_line(f"kept vLLM servers (--reuse-servers; `./run stop-servers` ends them): {len(kept)}")
        for record in kept:
            terminalreporter.write_line(f"  {keeper_mod.describe(record)}")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """A crashed xdist worker cannot stop its servers: the controller ends the groups it recorded."""
    if error:
        ServerPool.end_left_behind(_state(node.config).servers_file, worker=node.gateway.id)


def pytest_unconfigure(config):
    """Last line of defence: no server group this run recorded outlives it."""
    if STATE in config.stash and not hasattr(config, "workerinput"):
        ServerPool.end_left_behind(config.stash[STATE].servers_file)


def _server_records(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []
