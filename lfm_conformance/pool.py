"""Exactly one server per distinct configuration per run, started on first use, stopped after the
last test that needs it, and never left behind."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

from lfm_conformance.matrix import ServeConfig
from lfm_conformance.server import ServerError, VllmServer


class ServerPool:
    def __init__(self, log_dir: Path, model_path_for: Callable[[ServeConfig], str],
                 record_file: Path | None = None, log: Callable[[str], None] = print):
        self.log_dir = Path(log_dir)
        self.model_path_for = model_path_for
        self.record_file = record_file
        self.log = log
        self._servers: dict[str, VllmServer] = {}
        self._failures: dict[str, ServerError] = {}
        self._lock = threading.Lock()

    def get(self, config: ServeConfig) -> VllmServer:
        """The running server for this configuration; ServerError (with log tail) if it cannot
        start or has died. A failed configuration is not retried within the run."""
        with self._lock:
            if config.key in self._failures:
                raise self._failures[config.key]
            server = self._servers.get(config.key)
            if server is None:
                server = self._start(config)
            try:
                server.ensure_alive()
            except ServerError as exc:
                self._failures[config.key] = exc
                self._servers.pop(config.key, None)
                server.stop()
                raise
            return server

    def _start(self, config: ServeConfig) -> VllmServer:
        started = time.monotonic()
        try:
            model_path = self.model_path_for(config)
        except Exception as exc:  # a fixture that cannot be built fails this configuration only
            err = ServerError(f"cannot prepare the model for {config.name}: {type(exc).__name__}: {exc}")
            self._failures[config.key] = err
            raise err from None
        server = VllmServer(config, model_path, self.log_dir)
        server.start()
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
