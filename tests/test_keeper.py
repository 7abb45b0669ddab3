"""--reuse-servers: kept servers are attached to only when they serve the same thing, are ended by
the keeper when idle or when asked, and never lost track of (a stand-in HTTP server here; one run
pair with a real vLLM server at the end)."""
import json
import os
import subprocess
import sys
import textwrap
import time
import types

import pytest

from lfm_conformance.serving import keeper as keeper_mod
from lfm_conformance.serving.keeper import Keeper, group_alive, reuse_key
from lfm_conformance.serving.server import free_port
from tests.conftest import run_pytest

FAKE = textwrap.dedent("""
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, version, root, *names = sys.argv[1:]
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/health": {}, "/version": {"version": version},
                    "/v1/models": {"data": [{"id": n, "root": root} for n in names]}}.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())
        def log_message(self, *a):
            pass
    HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
""")


@pytest.fixture
def fake_server(tmp_path):
    started = []

    def start(version="0.32.0", root="/models/x", names=("m",)):
        script = tmp_path / "fake.py"
        script.write_text(FAKE)
        port = free_port()
        # Started by a launcher that exits at once, as a kept server outlives the run that started it
        # (so init, not this test, reaps it once it is ended).
        launch = ("import subprocess, sys; print(subprocess.Popen(sys.argv[1:], start_new_session=True, "
                  "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)")
        pid = int(subprocess.run([sys.executable, "-c", launch, sys.executable, str(script), str(port), version,
                                  root, *names], capture_output=True, text=True, check=True).stdout)
        proc = types.SimpleNamespace(pid=pid)
        started.append(proc)
        for _ in range(100):
            try:
                import urllib.request
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        return proc, port

    yield start
    for proc in started:
        if group_alive(proc.pid):
            os.killpg(proc.pid, 9)


def _keep(keeper, proc, port, key="k1", names=("m",), root="/models/x", version="0.32.0"):
    keeper.register(key, "cpu-x", proc.pid, port, "cmd", names, root, version)


@pytest.fixture
def keeper(tmp_path, monkeypatch):
    monkeypatch.setattr(keeper_mod, "ensure_supervisor", lambda home: None)  # sweeps are driven by hand here
    return Keeper(tmp_path / "servers", idle_s=60)


def test_the_key_ignores_the_port_only():
    base = ["python", "-m", "vllm", "--model", "/f/dense-chat-abc", "--port", "8000", "--dtype", "float32"]
    same = reuse_key(base, {"A": "1"}, "0.32.0")
    assert reuse_key([*base[:6], "9000", *base[7:]], {"A": "1"}, "0.32.0") == same
    assert reuse_key([*base[:4], "/f/dense-chat-def", *base[5:]], {"A": "1"}, "0.32.0") != same  # other fixture
    assert reuse_key(base, {"A": "2"}, "0.32.0") != same
    assert reuse_key(base, {"A": "1"}, "0.28.0") != same


def test_a_released_server_is_attached_by_the_next_run(keeper, fake_server):
    proc, port = fake_server()
    _keep(keeper, proc, port)
    keeper.release("k1")
    record, why = keeper.claim("k1", ("m",), "/models/x", "0.32.0")
    assert why is None and record["port"] == port and record["in_use_by"] == os.getpid()


@pytest.mark.parametrize("served, expected_problem", [
    (dict(version="0.31.0"), "serves vLLM 0.31.0"),
    (dict(root="/models/other"), "expected ['m'] from /models/x"),
    (dict(names=("m", "n")), "serves ['m', 'n']"),
])
def test_a_kept_server_serving_something_else_is_ended_not_attached(keeper, fake_server, served, expected_problem):
    proc, port = fake_server(**served)
    _keep(keeper, proc, port)
    keeper.release("k1")
    record, why = keeper.claim("k1", ("m",), "/models/x", "0.32.0")
    assert record is None and expected_problem in why
    assert not group_alive(proc.pid) and keeper.records() == []


def test_a_server_in_use_by_another_live_run_is_left_alone(keeper, fake_server):
    proc, port = fake_server()
    _keep(keeper, proc, port)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = json.loads((keeper.home / "k1.json").read_text())
        (keeper.home / "k1.json").write_text(json.dumps({**record, "in_use_by": other.pid}))
        assert keeper.claim("k1", ("m",), "/models/x", "0.32.0") == (None, "busy")
        assert group_alive(proc.pid) and len(keeper.records()) == 1
    finally:
        other.kill()
        other.wait()


def test_the_sweep_ends_a_server_at_its_idle_deadline_only(keeper, fake_server):
    proc, port = fake_server()
    _keep(keeper, proc, port)
    assert keeper.sweep() == []  # in use by this (live) process: never idle
    deadline = keeper.release("k1")["idle_deadline"]
    assert keeper.sweep(now=deadline - 1) == [] and group_alive(proc.pid)
    assert keeper.sweep(now=deadline) == ["cpu-x: idle for 60 s; ended"]
    assert not group_alive(proc.pid) and keeper.records() == []


def test_a_server_whose_run_died_without_releasing_it_goes_idle(keeper, fake_server):
    proc, port = fake_server()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _keep(keeper, proc, port)
    record = json.loads((keeper.home / "k1.json").read_text())
    (keeper.home / "k1.json").write_text(json.dumps({**record, "in_use_by": dead.pid}))
    assert keeper.sweep() == ["cpu-x: its run ended without releasing it; idle from now"]
    assert keeper.records()[0]["idle_deadline"] is not None and group_alive(proc.pid)


def test_stop_ends_every_kept_group_and_the_supervisor_exits_when_nothing_is_kept(tmp_path, fake_server):
    keeper = Keeper(tmp_path / "servers", idle_s=60)
    proc, port = fake_server()
    _keep(keeper, proc, port)  # starts the real supervisor
    assert keeper.stop_all() == [f"cpu-x (port {port}, process group {proc.pid}): ended"]
    assert not group_alive(proc.pid)
    for _ in range(100):  # the supervisor polls every few seconds, then exits
        if "nothing kept; exiting" in (keeper.home / "keeper.log").read_text():
            break
        time.sleep(0.1)
    assert "nothing kept; exiting" in (keeper.home / "keeper.log").read_text()


def test_a_second_run_attaches_to_the_kept_real_server(tmp_path, monkeypatch):
    fixtures = os.path.join(os.environ.get("LFMC_HOME", os.path.expanduser("~/.cache/lfm-conformance")), "fixtures")
    os.makedirs(tmp_path / "home")
    os.symlink(fixtures, tmp_path / "home" / "fixtures")  # the built fixtures, not a rebuild
    monkeypatch.setenv("LFMC_HOME", str(tmp_path / "home"))  # kept servers of this test only
    home = tmp_path / "home" / "servers"
    try:
        first = run_pytest("suites/test_loading.py", "-m", "model_vl_450m", "--reuse-servers", "5",
                           f"--reports={tmp_path / 'r1'}")
        assert first.returncode == 0, first.stdout[-3000:]
        assert "vLLM servers started: 1 for 1" in first.stdout and "kept vLLM servers" in first.stdout
        kept = Keeper(home).records()
        assert len(kept) == 1 and kept[0]["idle_deadline"] is not None and group_alive(kept[0]["pgid"])
        second = run_pytest("suites/test_loading.py", "-m", "model_vl_450m", "--reuse-servers", "5",
                            f"--reports={tmp_path / 'r2'}")
        assert second.returncode == 0, second.stdout[-3000:]
        assert "kept vLLM servers attached (no start): 1" in second.stdout
        assert "vLLM servers started" not in second.stdout
        assert Keeper(home).records()[0]["attached"] == 1
    finally:
        ended = Keeper(home).stop_all()
    assert len(ended) == 1 and not group_alive(kept[0]["pgid"])
