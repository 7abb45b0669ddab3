"""ServerPool.prefetch: the next configuration's server starts in the background, still once per
configuration, one start ahead at most, only with memory to spare, and none is left behind (a
stand-in HTTP server replaces vLLM here; the suites show it with real servers)."""
import dataclasses
import sys
import textwrap
import time

import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import pool as pool_mod
from lfm_conformance.serving.keeper import group_alive
from lfm_conformance.serving.pool import ServerPool
from lfm_conformance.serving.server import VllmServer

SLOW_HEALTH = textwrap.dedent("""
    import sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer
    time.sleep(float(sys.argv[2]))  # a start-up that takes a while
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def log_message(self, *a):
            pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


@pytest.fixture
def configs():
    m = matrix_mod.load()
    base = m.serve_config(m.models["LFM2.5-230M"], "cpu")
    return [dataclasses.replace(base, name=f"cfg-{i}") for i in range(2)]


@pytest.fixture
def pool(tmp_path, monkeypatch):
    script = tmp_path / "fake_server.py"
    script.write_text(SLOW_HEALTH)
    monkeypatch.setattr(VllmServer, "command", lambda self: [sys.executable, str(script), str(self.port), "1.5"])
    pool = ServerPool(tmp_path / "logs", lambda cfg: str(tmp_path), record_file=tmp_path / "servers.jsonl",
                      log=lambda line: None)
    yield pool
    pool.stop_all()


def _events(tmp_path) -> list[str]:
    import json

    return [json.loads(line)["event"] for line in (tmp_path / "servers.jsonl").read_text().splitlines()]


def test_a_prefetched_server_is_the_one_its_tests_get_started_once(pool, configs, tmp_path):
    assert pool.prefetch(configs[0], min_free_gb=0)
    started = time.monotonic()
    server = pool.get(configs[0])  # waits for the start under way, does not start another
    assert server.alive() and time.monotonic() - started < 10
    assert pool.get(configs[0]) is server
    assert _events(tmp_path).count("started") == 1


def test_one_start_ahead_at_most_and_none_without_memory_to_spare(pool, configs):
    assert not pool.prefetch(configs[0], min_free_gb=1e9)  # not enough memory: no start
    assert pool.prefetch(configs[0], min_free_gb=0)
    assert not pool.prefetch(configs[1], min_free_gb=0)  # one under way already
    pool.get(configs[0])
    assert not pool.prefetch(configs[0], min_free_gb=0)  # running already


def test_a_prefetched_server_outlives_the_start_and_stop_all_ends_it(pool, configs):
    pool.prefetch(configs[0], min_free_gb=0)
    server = pool.get(configs[0])
    time.sleep(1.0)  # PR_SET_PDEATHSIG follows the starting thread: the starter thread must live on
    assert server.alive()
    pool.stop_all()
    assert not group_alive(server.proc.pid)


def test_stop_all_waits_for_a_start_under_way(pool, configs, tmp_path):
    pool.prefetch(configs[1], min_free_gb=0)
    pool.stop_all()  # right away, while the server is still starting
    events = _events(tmp_path)
    assert events.count("started") == 1 and events[-1] == "stopped"
    assert pool.running() == []


def test_the_memory_bound_reads_the_machine():
    assert pool_mod.available_memory_gb() > 0
