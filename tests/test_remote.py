"""Remote mode against a real vLLM server started separately (the CPU stand-in for
LFM2.5-1.2B-Instruct, served under its HF id and the alias `llm`, behind an API key)."""
import dataclasses
import json
import socket

import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving.server import VllmServer
from tests.conftest import run_pytest

pytestmark = pytest.mark.xdist_group("remote-endpoint")  # one worker, one endpoint server
KEY_ENV = "LFMC_REMOTE_TEST_KEY"
MODEL = "LFM2.5-1.2B-Instruct"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    from fixtures import build

    m = matrix_mod.load()
    config = m.serve_config(m.models[MODEL], "cpu")
    config = dataclasses.replace(config, name="remote-under-test", served_names=(*config.served_names, "llm"))
    path = build.ensure(config.source, m, log=lambda _line: None)
    with VllmServer(config, str(path), tmp_path_factory.mktemp("remote-logs"), api_key="remote-test-key") as server:
        yield server


def test_suites_pass_against_running_endpoint_under_alias(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "remote-test-key")
    result = run_pytest("suites/test_loading.py", "suites/test_tool_calls.py", "--target", "cpu",
                        "--base-url", endpoint.base_url, "--model", MODEL, "--served-model-name", "llm",
                        "--api-key-env", KEY_ENV, "-rs", f"--reports={tmp_path}")
    out = result.stdout
    assert result.returncode == 0, out[-4000:]
    assert f"remote endpoint {endpoint.url()} serving llm (vLLM 0.32" in out
    assert ("not run: needs control of the server (remote mode): the check reads the server log"
            in out) and "14 passed, 2 skipped" in out
    assert "not run: needs control of the server (remote mode): the check starts the server" in out
    grid = out.split("model x behaviour grid")[1].split("PASS assertions ran")[0]  # the table, not the verdict
    assert "LFM2.5-1.2B-Instruct" in grid and "LFM2.5-230M" not in grid  # only the endpoint's model
    assert "vLLM servers started" not in out  # nothing was started


def test_every_suite_runs_or_says_why_against_the_endpoint(endpoint, tmp_path, monkeypatch):
    """The whole suites/ directory in remote mode: no suite error, no failure; every check passes,
    is a recorded deviation, or says NOT RUN / n/a with its reason (never a bare skip)."""
    monkeypatch.setenv(KEY_ENV, "remote-test-key")
    result = run_pytest("suites", "--target", "cpu", "--base-url", endpoint.base_url, "--model", MODEL,
                        "--served-model-name", "llm", "--api-key-env", KEY_ENV, f"--reports={tmp_path}", timeout=1800)
    doc = json.loads((tmp_path / "results.json").read_text())
    bad = [f"{r['status']} {r['id']}: {r['reason']}" for r in doc["records"]
           if r["status"] in ("fail", "error", "unexpected-pass")]
    assert result.returncode == 0 and not bad, "\n".join(bad) or result.stdout[-4000:]
    unsettled = [r for r in doc["records"] if r["status"] in ("not-run", "skipped", "not-applicable", "pending")]
    assert all(r["reason"].startswith(("not run: ", "not applicable: ", "pending: ")) for r in unsettled), \
        [r["reason"] for r in unsettled if not r["reason"].startswith(("not run: ", "not applicable: ", "pending: "))]
    assert {r["status"] for r in doc["records"]} >= {"pass", "not-run"}
    assert doc["summary"]["verdict"] == "INCOMPLETE" and "models not run: LFM2.5-230M" in " ".join(doc["summary"]["scope"])


def test_server_variants_not_applicable_in_remote_mode(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "remote-test-key")
    result = run_pytest("suites/test_context.py", "suites/test_numerics.py", "--co", "-q", "--target", "cpu",
                        "--base-url", endpoint.url(), "--model", MODEL, "--api-key-env", KEY_ENV,
                        f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    result = run_pytest("suites/test_context.py", "suites/test_numerics.py", "-rs", "-k", "lowered or numerics or served",
                        "--target", "cpu", "--base-url", endpoint.url(), "--model", MODEL, "--api-key-env", KEY_ENV,
                        f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "not run: needs control of the server (remote mode): the check runs on server variant " \
           "cpu-Lfm2ForCausalLM+max-model-len=2048" in result.stdout
    assert "server variant cpu-Lfm2ForCausalLM+variant=live-attention" in result.stdout
    assert " passed" not in result.stdout.splitlines()[-1]


def test_wrong_key_or_model_name_is_one_usage_error(endpoint, tmp_path, monkeypatch):
    result = run_pytest("suites/test_loading.py", "--target", "cpu", "--base-url", endpoint.url(), "--model", MODEL,
                        f"--reports={tmp_path}")
    assert result.returncode == 4
    assert f"ERROR: --base-url {endpoint.url()}: GET /v1/models returned HTTP 401 (set --api-key-env); " \
           "not a vLLM OpenAI server" in result.stderr
    monkeypatch.setenv(KEY_ENV, "remote-test-key")
    result = run_pytest("suites/test_loading.py", "--target", "cpu", "--base-url", endpoint.url(), "--model", MODEL,
                        "--served-model-name", "gpt-4", "--api-key-env", KEY_ENV, f"--reports={tmp_path}")
    assert result.returncode == 4 and "not 'gpt-4'; pass --served-model-name NAME for an alias" in result.stderr


def test_unreachable_url_is_one_usage_error(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_pytest("suites/test_loading.py", "--target", "cpu", "--base-url", f"http://127.0.0.1:{port}/v1",
                        "--model", MODEL, f"--reports={tmp_path}")
    assert result.returncode == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR: --base-url http://127.0.0.1:{port}: unreachable (GET /health: [Errno 111] Connection refused)"]


def test_remote_mode_needs_a_matrix_model(tmp_path):
    result = run_pytest("suites/test_loading.py", "--target", "cpu", "--base-url", "http://127.0.0.1:9",
                        f"--reports={tmp_path}")
    assert result.returncode == 4
    assert "--model None: remote mode needs the matrix.yaml model the endpoint serves; allowed values: LFM2.5-230M" \
        in result.stderr


def test_fleet_runner_against_a_local_stand_in_for_modal(endpoint, tmp_path, monkeypatch):
    """run_pair with Modal replaced by the local endpoint: the modal commands it would run, then the
    suites in remote mode (target gpu, the pair's GPU, served as `llm`) for real."""
    from lfm_conformance.serving import fleet

    calls = []
    monkeypatch.setattr(fleet, "modal_cli", lambda args, env, log, check=True: calls.append(
        (args, env["MODEL"], env["GPU"], env["PUBLISHED_FLAGS"])))
    monkeypatch.setattr(fleet, "web_url", lambda app: endpoint.url() if app == "lfmc-lfm2.5-1.2b-instruct-h100" else None)
    monkeypatch.setenv(KEY_ENV, "remote-test-key")
    m = matrix_mod.load()
    [pair] = fleet.plan(m, [MODEL], ["H100"])
    folder = fleet.run_pair(m, pair, tmp_path, extra=("-k", "test_first_request_returns_text or test_models_endpoint",
                                                      "--api-key-env", KEY_ENV, "-rs"))
    assert calls == [(["deploy", str(fleet.MODAL_APP)], "LiquidAI/LFM2.5-1.2B-Instruct", "H100", "0"),
                     (["app", "stop", "-y", "lfmc-lfm2.5-1.2b-instruct-h100"], "LiquidAI/LFM2.5-1.2B-Instruct", "H100", "0")]
    log = (folder / "modal.log").read_text()
    assert "target gpu on H100, 80 GB; remote endpoint" in log and "serving llm" in log
    assert "2 passed" in log, log[-3000:]
    assert (folder / "junit.xml").exists()


def test_non_vllm_url_is_one_usage_error(tmp_path):
    """A web server that is healthy but has no OpenAI model list."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        result = run_pytest("suites/test_loading.py", "--target", "cpu", "--base-url", url, "--model", MODEL,
                            f"--reports={tmp_path}")
    finally:
        httpd.shutdown()
    assert result.returncode == 4
    assert f"ERROR: --base-url {url}: GET /v1/models returned HTTP 404; not a vLLM OpenAI server" in result.stderr


def test_numerics_variant_not_applicable_in_remote_mode_on_gpu_target(tmp_path):
    """With real weights the live-attention variant is the model's own server, but its reference
    needs the weights beside the suite: remote mode reports it not applicable too."""
    from lfm_conformance.data import deviations
    from lfm_conformance.harness.plugin import RunState
    from lfm_conformance.serving.remote import RemoteEndpoint

    m = matrix_mod.load()
    model = m.models["LFM2.5-8B-A1B"]
    state = RunState(m, "gpu", tmp_path, deviations.KnownDeviations([], None))
    state.remote = RemoteEndpoint("https://x.modal.run/v1", m.serve_config(model, "gpu"), model.hf_id)
    variant = {"extra_args": (), "drop_flag_sets": (), "variant": "live-attention"}
    assert state.not_applicable(model, variant) == ("not run: needs control of the server "
                                                    "(remote mode): the check runs on server variant live-attention")
    capped = {"extra_args": ("--max-model-len", "2048"), "drop_flag_sets": (), "variant": None}
    assert state.not_applicable(model, capped).endswith("server variant gpu-LFM2.5-8B-A1B+reasoning+tool_calling"
                                                        "+max-model-len=2048")
    assert state.not_applicable(model, {}) is None
    assert state.not_applicable(model, {}, ["image_host"]).startswith("not run: the remote endpoint cannot fetch")
    assert state.remote.root == "https://x.modal.run"
