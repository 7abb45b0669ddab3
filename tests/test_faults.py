"""The suite under faults: a server killed mid-run, a server that never becomes healthy, a crashing
xdist worker, a taken port, a missing model directory, an unwritable reports directory; and its
security promises: API key enforced, keys never written anywhere, servers on loopback.
Process checks go by the process groups the suite recorded (servers.jsonl), never by name."""
import json
import os
import socket
import subprocess
import textwrap
import time

import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving.pool import ServerPool
from lfm_conformance.serving.server import ServerError, VllmServer
from tests.conftest import ROOT, run_pytest
from tests.test_lifecycle import _group_alive, _records

LOADING = "suites/test_loading.py"


def _nested_file(tmp_path, source: str) -> str:
    """A test file for a nested run; it runs with the suite's plugin and pytest settings."""
    path = tmp_path / "nested" / "test_nested.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return str(path)


def _run_nested(*args, **kwargs):
    return run_pytest("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "lfm_conformance.harness.plugin",
                      *args, **kwargs)


def _assert_no_group_left(reports):
    pgids = {r["pgid"] for r in _records(reports) if r.get("pgid")}
    deadline = time.monotonic() + 20
    while any(_group_alive(p) for p in pgids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pgids if _group_alive(p)], "vLLM process group left behind"
    return pgids


def _config():
    m = matrix_mod.load()
    return m.serve_config(m.models["LFM2.5-230M"], "cpu")


# -- bad setup: one clear error each, before any vLLM start ---------------------------------------
def test_explicit_port_already_taken_is_one_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = VllmServer(_config(), str(tmp_path), tmp_path, port=port)
        with pytest.raises(ServerError, match=rf"port 127.0.0.1:{port} for cpu-dense-chat\+tool_calling is not available"):
            server.start()
    assert server.proc is None  # nothing was launched


def test_missing_model_directory_is_one_clear_error(tmp_path):
    server = VllmServer(_config(), str(tmp_path / "gone"), tmp_path)
    with pytest.raises(ServerError, match=r"model directory .*/gone for cpu-dense-chat\+tool_calling does not exist"):
        server.start()
    assert server.proc is None


def test_missing_model_directory_fails_its_tests_with_that_line(tmp_path):
    nested = _nested_file(tmp_path, """
        def test_a(model, server):
            pass
    """)
    # The nested run's model directory is gone: its conftest replaces the plugin's model path lookup.
    conftest = tmp_path / "nested" / "conftest.py"
    conftest.write_text("from lfm_conformance.harness import plugin\n"
                        "plugin._model_path = lambda state, config: '/nonexistent/lfm-model-dir'\n")
    result = _run_nested(nested, "-k", "230M", f"--reports={tmp_path / 'reports'}", timeout=120)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "model directory /nonexistent/lfm-model-dir for cpu-dense-chat+tool_calling does not exist" in result.stdout
    assert not _records(tmp_path / "reports")  # no server was launched


def test_unwritable_reports_dir_is_a_usage_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_pytest("tests/test_matrix.py", f"--reports={blocker / 'reports'}", timeout=120)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR: --reports {blocker / 'reports'}: cannot write reports there: Not a directory ({blocker / 'reports'})"], result.stderr
    assert "Traceback" not in result.stderr


def test_api_key_env_unset_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LFMC_TEST_NO_SUCH_KEY", raising=False)
    result = run_pytest("tests/test_matrix.py", "--api-key-env", "LFMC_TEST_NO_SUCH_KEY", f"--reports={tmp_path}",
                        timeout=120)
    assert result.returncode == 4
    assert "--api-key-env LFMC_TEST_NO_SUCH_KEY: the environment variable LFMC_TEST_NO_SUCH_KEY is not set" in result.stderr


def test_servers_bind_to_loopback_unless_a_host_is_requested(tmp_path):
    assert "--host 127.0.0.1 " in VllmServer(_config(), str(tmp_path), tmp_path).command_line()
    assert "--host 0.0.0.0 " in VllmServer(_config(), str(tmp_path), tmp_path, host="0.0.0.0").command_line()


def test_groups_left_behind_by_a_dead_owner_are_ended_and_no_others(tmp_path):
    """The controller's safety net: recorded groups without a stop record are ended; groups with one
    (and anything unrecorded) are left alone."""
    procs = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(3)]
    orphan, stopped, other_worker = procs
    record = tmp_path / "servers.jsonl"
    lines = [{"event": "started", "pgid": orphan.pid, "worker": "gw0"},
             {"event": "ready", "pgid": orphan.pid, "worker": "gw0"},
             {"event": "started", "pgid": stopped.pid, "worker": "gw0"},
             {"event": "stopped", "pgid": stopped.pid, "worker": "gw0"},
             {"event": "started", "pgid": other_worker.pid, "worker": "gw1"}]
    record.write_text("".join(json.dumps(line) + "\n" for line in lines))
    try:
        assert ServerPool.end_left_behind(record, worker="gw0", grace=5) == [orphan.pid]
        assert orphan.wait(timeout=5) is not None
        assert stopped.poll() is None and other_worker.poll() is None
    finally:
        for p in procs:
            p.kill()
            p.wait()


# -- real servers -------------------------------------------------------------------------------
def test_server_never_healthy_fails_within_its_startup_timeout(tmp_path, matrix_data, write_matrix):
    matrix_data["targets"]["cpu"]["startup_timeout_s"] = 3
    path = write_matrix(matrix_data)
    started = time.monotonic()
    result = run_pytest(LOADING, f"--matrix={path}", f"--reports={tmp_path}", "-k", "models_endpoint and 230M",
                        timeout=240)
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "not healthy after 3 s (startup_timeout_s of target cpu)" in out and "--- last" in out
    assert elapsed < 120, f"took {elapsed:.0f} s"  # imports + 3 s + teardown, far below the 300 s default
    _assert_no_group_left(tmp_path)


KILL_MID_RUN = """
    import os
    import signal

    def test_1_kills_its_server(model, server):
        if model.name == "LFM2.5-230M":
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()

    def test_2_runs_after_the_kill(model, server):
        assert server.alive()
"""


def test_server_killed_mid_run_fails_its_configuration_only(tmp_path):
    nested = _nested_file(tmp_path, KILL_MID_RUN)
    reports = tmp_path / "reports"
    result = _run_nested(nested, "-k", "230M or 350M or Thinking", f"--reports={reports}",
                         f"--junitxml={reports / 'junit.xml'}", "-rA")
    out = result.stdout
    assert result.returncode == 1, out[-4000:]
    # the killed configuration: the test that killed it, then every remaining one, error with the tail
    assert "server died during the test" in out
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    for test in ("test_1_kills_its_server[LFM2.5-350M-cpu]", "test_2_runs_after_the_kill[LFM2.5-230M-cpu]",
                 "test_2_runs_after_the_kill[LFM2.5-350M-cpu]"):
        assert [line for line in errors if test in line], out[-4000:]
    assert "vLLM server for cpu-dense-chat+tool_calling died (exit code -9)" in out and "--- last" in out
    # the other configuration ran in full
    assert "3 passed" in out and "4 errors" in out, out[-2000:]  # the killing test passes, then errors at teardown
    # the report marks it
    assert "vLLM servers that died mid-run: cpu-dense-chat+tool_calling" in out
    assert [r["config"] for r in _records(reports) if r["event"] == "died"] == ["cpu-dense-chat+tool_calling"]
    _assert_no_group_left(reports)


def test_restart_dead_servers_restarts_once(tmp_path):
    nested = _nested_file(tmp_path, KILL_MID_RUN)
    reports = tmp_path / "reports"
    result = _run_nested(nested, "-k", "230M", "--restart-dead-servers", f"--reports={reports}")
    out = result.stdout
    # the kill is seen at the end of the test that did it; the next test gets a new server
    assert "2 passed" in out and "1 error" in out, out[-3000:]  # the killing test: passed, then teardown error
    assert "restarting it once (--restart-dead-servers)" in out
    events = [(r["event"], r["config"]) for r in _records(reports)]
    assert [e for e, _ in events].count("started") == 2 and ("died", "cpu-dense-chat+tool_calling") in events
    _assert_no_group_left(reports)


def test_crashing_xdist_worker_leaves_no_server(tmp_path):
    crashed = tmp_path / "crashed-once"  # xdist may hand the crashed worker's tests to its replacement
    nested = _nested_file(tmp_path, f"""
        import os

        def test_1_worker_crashes(model, server):
            if not os.path.exists({str(crashed)!r}):
                open({str(crashed)!r}, "w").close()
                os._exit(3)

        def test_2_after_the_crash(model, server):
            pass
    """)
    reports = tmp_path / "reports"
    result = _run_nested(nested, "-n", "2", "--max-worker-restart=1", "-k", "230M", f"--reports={reports}")
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "crashed" in out, out[-3000:]
    assert [r for r in _records(reports) if r["event"] == "started"], "no server was recorded"
    _assert_no_group_left(reports)


def test_api_key_enforced_and_never_written_anywhere(tmp_path, monkeypatch):
    key = f"sk-lfmc-test-{os.getpid()}-{time.time_ns()}"
    nested = _nested_file(tmp_path, f"""
        import socket
        import httpx

        def test_key_required(model, server):
            url = server.url("/v1/models")
            assert server.api_key
            assert httpx.get(url, timeout=30).status_code == 401
            assert httpx.get(url, headers={{"Authorization": "Bearer wrong-key"}}, timeout=30).status_code == 401
            assert httpx.get(url, headers={{"Authorization": "Bearer " + server.api_key}}, timeout=30).status_code == 200
            assert server.client().models.list().data  # the SDK client sends the key

        def test_loopback_only(model, server):
            assert server.host == "127.0.0.1"
            others = {{ip for *_, (ip, *_) in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}}
            for ip in others - {{"127.0.0.1"}} - {{i for i in others if i.startswith("127.")}}:
                try:
                    socket.create_connection((ip, server.port), timeout=2).close()
                except OSError:
                    continue
                raise AssertionError(f"server port reachable on {{ip}}")

        def test_failure_message_with_log_tail(model, server):
            raise AssertionError("deliberate failure carrying the command and log: "
                                 + server.command_line() + server.log_tail())
    """)
    reports = tmp_path / "reports"
    monkeypatch.setenv("LFMC_TEST_API_KEY", key)  # the nested run inherits it; only its name is passed
    result = _run_nested(nested, str(ROOT / LOADING), str(ROOT / "suites" / "test_robustness.py"),
                         "-k", "230M and (nested or first_request or unknown-model or malformed-json or hanging_up)",
                         "--api-key-env", "LFMC_TEST_API_KEY", f"--reports={reports}",
                         f"--junitxml={reports / 'junit.xml'}", "-rA")
    out = result.stdout + result.stderr
    assert "6 passed, 1 failed" in out or "1 failed, 6 passed" in out, out[-4000:]
    assert "--api-key ***" in out  # the command line is in the failure, redacted
    written = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in written) and (reports / "junit.xml") in written
    leaks = [str(p) for p in written if key in p.read_text(errors="replace")]
    assert not leaks and key not in out, f"API key written to {leaks or 'pytest output'}"
    _assert_no_group_left(reports)
