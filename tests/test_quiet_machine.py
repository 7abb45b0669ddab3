"""harness.quiet: a benchmark runs alone (no test, no server start beside it), is not starved by a
worker running test after test, and a start ahead of a test that already holds the machine does not
deadlock with a waiting benchmark. Threads stand in for xdist workers (flock is per open file)."""
import threading
import time

import pytest

from lfm_conformance.harness.quiet import QuietMachine


@pytest.fixture
def machine(tmp_path):
    return QuietMachine(tmp_path)


def _in_thread(fn) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_benchmark_waits_for_the_test_under_way_and_no_test_runs_beside_it(machine):
    log = []

    def other_worker():
        with machine.shared():
            log.append("test start")
            time.sleep(0.5)
            log.append("test end")

    worker = _in_thread(other_worker)
    time.sleep(0.1)
    with machine.exclusive():
        log.append("benchmark start")
        late = _in_thread(other_worker)  # asks while the benchmark runs: must wait
        time.sleep(0.3)
        log.append("benchmark end")
    worker.join(5)
    late.join(5)
    assert log == ["test start", "test end", "benchmark start", "benchmark end", "test start", "test end"], log


def test_tests_that_overlap_without_end_do_not_starve_the_benchmark(machine):
    # Two takers whose holds overlap (a worker's test and its start ahead, say): the machine is
    # never free of shared holders unless new ones queue behind the waiting benchmark.
    stop, ran_during = threading.Event(), []
    benchmark_running = threading.Event()

    def busy(offset):
        time.sleep(offset)
        while not stop.is_set():
            with machine.shared():
                ran_during.append(benchmark_running.is_set())
                time.sleep(0.1)

    workers = [_in_thread(lambda: busy(0)), _in_thread(lambda: busy(0.05))]
    time.sleep(0.3)
    got_it = threading.Event()

    def benchmark():
        with machine.exclusive():
            got_it.set()
            benchmark_running.set()
            time.sleep(0.2)
            benchmark_running.clear()

    bench = _in_thread(benchmark)
    waited = got_it.wait(3)
    stop.set()  # starved or not, the busy takers end now (and so does the benchmark)
    for thread in (*workers, bench):
        thread.join(5)
    assert waited, "the benchmark was still waiting after 3 s behind tests that kept overlapping"
    assert not any(ran_during), "a test ran while the benchmark held the machine"


def test_server_start_ahead_waits_for_a_running_benchmark(machine):
    log = []

    def start_ahead():
        with machine.starting():
            log.append("start")

    with machine.exclusive():
        starter = _in_thread(start_ahead)
        time.sleep(0.3)
        log.append("benchmark end")
    starter.join(5)
    assert log == ["benchmark end", "start"]


def test_start_ahead_for_a_test_holding_the_machine_does_not_deadlock_a_waiting_benchmark(machine):
    # A test holds the machine shared and waits for its server, started ahead by a background
    # thread; meanwhile a benchmark on the other worker waits for the machine.
    server_ready, log = threading.Event(), []

    def test_waiting_for_its_server():
        with machine.shared():
            assert server_ready.wait(5), "the start ahead never ran: deadlock"
            log.append("test")

    def benchmark():
        with machine.exclusive():
            log.append("benchmark")

    test = _in_thread(test_waiting_for_its_server)
    time.sleep(0.1)
    bench = _in_thread(benchmark)
    time.sleep(0.1)
    with machine.starting():  # the background start
        server_ready.set()
    test.join(6)
    bench.join(6)
    assert log == ["test", "benchmark"]
