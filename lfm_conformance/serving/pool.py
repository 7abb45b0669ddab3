"""Exactly one server per distinct configuration per run, started on first use (or just before:
`prefetch` starts the next configuration's server while the current one's tests run), stopped
after the last test that needs it, and never left behind."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from lfm_conformance.data.matrix import ServeConfig
from lfm_conformance.serving.keeper import Keeper, reuse_key
from lfm_conformance.serving.server import AttachedServer, ServerError, VllmServer


PREFETCH_MIN_FREE_GB = 4.0  # a tiny-model vLLM server on CPU: ~1.5 GB resident + its 1 GiB KV cache


def available_memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return 0.0


class ServerPool:
    def __init__(self, log_dir: Path, model_path_for: Callable[[ServeConfig], str],
                 record_file: Path | None = None, log: Callable[[str], None] = print,
                 api_key: str | None = None, restart_dead: bool = False, keeper: Keeper | None = None,
                 vllm_version: str | None = None, quiet=None):
        self.log_dir = Path(log_dir)
        self.model_path_for = model_path_for
        self.record_file = record_file
        self.log = log
        self._servers: dict[str, VllmServer] = {}
        self._failures: dict[str, ServerError] = {}
        self._lock = threading.Lock()
        self.api_key = api_key
        self.restart_dead = restart_dead  # restart a server that died mid-run, once per configuration
        self._restarted: set[str] = set()
        self.keeper = keeper  # --reuse-servers: attach to kept servers, keep the ones started here
        self.vllm_version = vllm_version
        self._starting: dict[str, threading.Lock] = {}  # one start per configuration, whoever asks
        self._starter: ThreadPoolExecutor | None = None  # one long-lived thread: PR_SET_PDEATHSIG
        self._prefetching: str | None = None              # ties a server to the thread that started it
        self._record_lock = threading.Lock()
        self.quiet = quiet  # harness.quiet.QuietMachine: a start ahead waits while a benchmark runs

    def get(self, config: ServeConfig) -> VllmServer:
        """The running server for this configuration (waiting for a start under way); ServerError
        (with log tail) if it cannot start or has died. A failed configuration is not retried."""
        with self._lock:
            starting = self._starting.setdefault(config.key, threading.Lock())
        with starting:
            with self._lock:
                if config.key in self._failures:
                    raise self._failures[config.key]
                server = self._servers.get(config.key)
                if server is not None and not server.alive():
                    self._bury(config, server)
                    if config.key in self._failures:
                        raise self._failures[config.key]
                    server = None
            return server if server is not None else self._start(config)

    def prefetch(self, config: ServeConfig, min_free_gb: float = PREFETCH_MIN_FREE_GB) -> bool:
        """Start this configuration's server in the background, ahead of its tests: at most one
        such start at a time, none unless `min_free_gb` of memory is available. True if started."""
        with self._lock:
            if (self._prefetching or config.key in self._servers or config.key in self._failures
                    or available_memory_gb() < min_free_gb):
                return False
            self._prefetching = config.key
            if self._starter is None:
                self._starter = ThreadPoolExecutor(1, thread_name_prefix="server-prefetch")
        self.log(f"server {config.name}: starting ahead of its tests")

        def start():
            try:
                with self.quiet.starting() if self.quiet is not None else contextlib.nullcontext():
                    self.get(config)
            except ServerError:
                pass  # recorded: its tests fail with the log tail
            finally:
                with self._lock:
                    self._prefetching = None

        self._starter.submit(start)
        return True

    def notice_death(self, config: ServeConfig, server: VllmServer) -> None:
        """The server died during a test: record it now (the report marks it even if no later
        test of its configuration asks for it)."""
        with self._lock:
            if self._servers.get(config.key) is server and not server.alive():
                self._bury(config, server)

    def _bury(self, config: ServeConfig, server: VllmServer) -> None:
        """A server died mid-run (lock held): end what is left of its group and record it; its
        configuration's later tests fail fast with the log tail, or (--restart-dead-servers) get
        a new server once."""
        try:
            server.ensure_alive()
            return  # alive after all
        except ServerError as exc:
            died = exc
        self._servers.pop(config.key, None)
        server.stop()
        if server.kept and server.reuse_key:
            self.keeper.forget(server.reuse_key)
        self._record(server, "died")
        if self.restart_dead and config.key not in self._restarted:
            self._restarted.add(config.key)
            self.log(f"server {config.name} died mid-run; restarting it once (--restart-dead-servers)")
        else:
            self._failures[config.key] = died

    def _start(self, config: ServeConfig) -> VllmServer:
        started = time.monotonic()
        try:
            model_path = self.model_path_for(config)
        except Exception as exc:  # a fixture that cannot be built fails this configuration only
            err = ServerError(f"cannot prepare the model for {config.name}: {type(exc).__name__}: {exc}")
            with self._lock:
                self._failures[config.key] = err
            raise err from None
        server = VllmServer(config, model_path, self.log_dir, api_key=self.api_key, kept=self.keeper is not None)
        if self.keeper is not None:
            attached = self._attach(config, server)
            if attached is not None:
                return attached
        try:
            server.start()
        except ServerError as exc:  # refused before launch (port taken, model directory missing)
            with self._lock:
                self._failures[config.key] = exc
            raise
        with self._lock:
            self._servers[config.key] = server
        self._record(server, "started")
        if server.kept:  # from its start on, so that not even a killed run leaves it unowned
            self.keeper.register(server.reuse_key, config.name, server.proc.pid, server.port, server.command_line(),
                                 config.served_names, server.model_path, self.vllm_version)
        try:
            server.wait_ready()
        except ServerError as exc:
            with self._lock:
                self._failures[config.key] = exc
                self._servers.pop(config.key, None)
            server.stop()
            if server.kept:
                self.keeper.forget(server.reuse_key)
            self._record(server, "failed")
            raise
        self.log(f"server {config.name}: ready in {server.ready_s:.1f} s "
                 f"(total {time.monotonic() - started:.1f} s with model preparation), port {server.port}")
        self._record(server, "ready")
        return server

    def _attach(self, config: ServeConfig, fresh: VllmServer) -> VllmServer | None:
        """A kept server of the same key (lock held), or None: then `fresh` is started, kept unless
        another run uses the kept one (then it is this run's own, stopped at its end)."""
        key = reuse_key(fresh.command(), config.env, self.vllm_version)
        record, why = self.keeper.claim(key, config.served_names, fresh.model_path, self.vllm_version)
        if record is None:
            if why == "busy":
                fresh.kept = False
            else:
                fresh.reuse_key = key
                fresh.log_path = self.keeper.log_path(key)
                if why:
                    self.log(f"server {config.name}: kept server not reused ({why}); starting a new one")
            return None
        server = AttachedServer(config, fresh.model_path, record, api_key=self.api_key)
        with self._lock:
            self._servers[config.key] = server
        self._record(server, "attached")
        self.log(f"server {config.name}: attached to the kept server on port {server.port} (no start)")
        return server

    def release(self, key: str) -> None:
        with self._lock:
            server = self._servers.pop(key, None)
        if server is None:
            return
        if server.kept and server.alive():
            self.keeper.release(server.reuse_key)
            self._record(server, "kept")
            return
        server.stop()
        self._record(server, "stopped")

    def stop_all(self) -> None:
        if self._starter is not None:
            self._starter.shutdown(wait=True)  # a start under way finishes first, then stops below
            self._starter = None
        for key in list(self._servers):
            self.release(key)

    def running(self) -> list[VllmServer]:
        return list(self._servers.values())

    def _record(self, server: VllmServer, event: str) -> None:
        if self.record_file is None:
            return
        entry = {"event": event, "time": time.time(), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                 "test": os.environ.get("PYTEST_CURRENT_TEST"),
                 **server.record()}
        self.record_file.parent.mkdir(parents=True, exist_ok=True)
        with self._record_lock, open(self.record_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    @staticmethod
    def end_left_behind(record_file: Path, worker: str | None = None, grace: float = 10.0) -> list[int]:
        """End the process groups of servers recorded in `record_file` (of one xdist `worker`, or
        all) that no stop/failure was recorded for: their owner died without stopping them. Only
        recorded groups are touched, never processes found by name. Returns the pgids ended."""
        last: dict[int, str] = {}
        try:
            lines = record_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        for line in lines:
            entry = json.loads(line) if line.strip() else None
            if entry and entry.get("pgid") and (worker is None or entry.get("worker") == worker):
                last[entry["pgid"]] = entry["event"]
        ended = []
        for pgid, event in last.items():
            if event in ("started", "ready") and _signal_group(pgid, signal.SIGTERM):
                ended.append(pgid)
        deadline = time.monotonic() + grace
        while ended and time.monotonic() < deadline and any(_signal_group(p, 0) for p in ended):
            time.sleep(0.2)
        for pgid in ended:
            _signal_group(pgid, signal.SIGKILL)
        return ended


def _signal_group(pgid: int, sig: int) -> bool:
    """Send sig to the group; False if no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True
