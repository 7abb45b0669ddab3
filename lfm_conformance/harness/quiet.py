"""A benchmark measures the machine: while one runs, no other test of the run (on any xdist worker)
runs, and no server starts. Every test holds the machine shared, a benchmark holds it exclusive;
file locks, so all workers of a run share them. Seen without it: 74-93 tok/s beside another
worker's tests and server starts, 1076 tok/s alone, on the same configuration.

Two flock(2) locks make it fair to the benchmark: shared takers pass a gate that a waiting
benchmark holds, so a worker running test after test cannot keep it waiting for ever."""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


class QuietMachine:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.gate = folder / ".quiet-machine.gate"
        self.lock = folder / ".quiet-machine.lock"

    @contextlib.contextmanager
    def shared(self):
        """Held by every test: waits while a benchmark runs or waits to run."""
        with open(self.lock, "a") as lock:
            with open(self.gate, "a") as gate:
                fcntl.flock(gate, fcntl.LOCK_EX)  # queued behind a waiting benchmark
                fcntl.flock(lock, fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def starting(self):
        """Held by a server start ahead of its tests (a background thread): waits while a benchmark
        runs, but not at the gate: the test that will need the server may already hold the machine
        shared, and a benchmark waiting at the lock would then wait for it for ever."""
        with open(self.lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def exclusive(self):
        """Held by a benchmark: waits for the tests and starts under way, lets no new one begin."""
        with open(self.gate, "a") as gate, open(self.lock, "a") as lock:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
