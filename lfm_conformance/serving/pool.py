"""Exactly one server per distinct configuration per run, started on first use, stopped after the
last test that needs it, and never left behind."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from lfm_conformance.data.matrix import ServeConfig
from lfm_conformance.serving.server import ServerError, VllmServer


class ServerPool:
    def __init__(self, log_dir: Path, model_path_for: Callable[[ServeConfig], str],
                 record_file: Path | None = None, log: Callable[[str], None] = print,
                 api_key: str | None = None, restart_dead: bool = False):
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

    def get(self, config: ServeConfig) -> VllmServer:
        """The running server for this configuration; ServerError (with log tail) if it cannot
        start or has died. A failed configuration is not retried within the run."""
        with self._lock:
            if config.key in self._failures:
                raise self._failures[config.key]
            server = self._servers.get(config.key)
            if server is not None and not server.alive():
                self._bury(config, server)
                if config.key in self._failures:
                    raise self._failures[config.key]
                server = None
            if server is None:
                server = self._start(config)
            return server

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
            self._failures[config.key] = err
            raise err from None
        server = VllmServer(config, model_path, self.log_dir, api_key=self.api_key)
        try:
            server.start()
        except ServerError as exc:  # refused before launch (port taken, model directory missing)
            self._failures[config.key] = exc
            raise
        self._servers[config.key] = server
        self._record(server, "started")
        try:
            server.wait_ready()
        except ServerError as exc:
            self._failures[config.key] = exc
            self._servers.pop(config.key, None)
            server.stop()
            self._record(server, "failed")
            raise
        self.log(f"server {config.name}: ready in {server.ready_s:.1f} s "
                 f"(total {time.monotonic() - started:.1f} s with model preparation), port {server.port}")
        self._record(server, "ready")
        return server

    def release(self, key: str) -> None:
        with self._lock:
            server = self._servers.pop(key, None)
        if server is not None:
            server.stop()
            self._record(server, "stopped")

    def stop_all(self) -> None:
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
        with open(self.record_file, "a", encoding="utf-8") as fh:
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
