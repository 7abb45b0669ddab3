"""Server lifecycle with real vLLM servers: one per configuration, failures confined to their own
configuration with the log tail, and no vLLM process left after the run, however it ends."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving.server import ServerError, VllmServer
from tests.conftest import ROOT, run_pytest


def _records(reports):
    path = reports / "servers.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_exiting_at_startup_raises_with_log_tail(tmp_path):
    m = matrix_mod.load()
    config = m.serve_config(m.models["LFM2.5-230M"], "cpu")
    (tmp_path / "empty-model").mkdir()  # exists (a missing one is refused before launch) but holds no model
    server = VllmServer(config, str(tmp_path / "empty-model"), tmp_path)
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        with server:
            pass
    message = str(info.value)
    assert "exited with code" in message and "last" in message and str(server.log_path) in message
    assert time.monotonic() - started < config.target.startup_timeout_s
    assert not _group_alive(server.proc.pid)


def test_one_server_for_the_two_vl_models_and_none_left(tmp_path):
    result = run_pytest("suites/test_loading.py", "-m", "vision", f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:]
    started = [r for r in _records(tmp_path) if r["event"] == "started"]
    assert len(started) == 1 and started[0]["config"] == "cpu-vl+multi_image"
    assert "vLLM servers started: 1 for 1 distinct configurations" in result.stdout
    assert "LFM2.5-VL-450M" in result.stdout.split("model x behaviour grid")[1]
    assert not _group_alive(started[0]["pgid"])


def test_unstartable_configuration_fails_only_its_own_tests_with_log_tail(tmp_path, matrix_data, write_matrix):
    matrix_data["flag_sets"]["broken"] = ["--no-such-flag"]
    matrix_data["models"]["LFM2.5-1.2B-Base"]["flag_sets"] = ["broken"]
    path = write_matrix(matrix_data)
    result = run_pytest("suites/test_loading.py", f"--matrix={path}", f"--reports={tmp_path}",
                        "-k", "models_endpoint and (Base or VL)")
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "2 passed" in out and "1 error" in out
    assert "ERROR suites/test_loading.py::test_models_endpoint_lists_model_with_documented_context[LFM2.5-1.2B-Base-cpu]" in out
    assert "exited with code" in out and "no-such-flag" in out and "--- last" in out
    for record in _records(tmp_path):
        assert not _group_alive(record["pgid"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaves_no_vllm_process(tmp_path, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites/test_loading.py", "-m", "model_vl_450m",
                             f"--reports={tmp_path}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not any(r["event"] == "started" for r in _records(tmp_path)):
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "server never started"
            time.sleep(0.5)
        time.sleep(3)  # mid-startup: the server is importing vLLM
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    pgids = {r["pgid"] for r in _records(tmp_path)}
    assert pgids
    deadline = time.monotonic() + 20
    while any(_group_alive(p) for p in pgids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pgids if _group_alive(p)], "vLLM process group left behind"


def test_xdist_two_workers_still_start_one_server_per_configuration(tmp_path):
    result = run_pytest("suites/test_loading.py", "-n", "2", "-m", "model_1_2b", f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:]
    started = [r for r in _records(tmp_path) if r["event"] == "started"]
    configs = [r["config"] for r in started]
    assert sorted(configs) == sorted(set(configs)) and len(configs) == 4, configs
    assert {r["worker"] for r in started} == {"gw0", "gw1"}
    assert "vLLM servers started: 4 for 4 distinct configurations" in result.stdout
    assert not [r for r in started if _group_alive(r["pgid"])]
