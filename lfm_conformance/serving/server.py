"""One object owns one vLLM OpenAI server's whole life: command line, port, log file, readiness,
liveness and teardown of its process group."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lfm_conformance.data.matrix import ServeConfig
from lfm_conformance.serving.endpoint import OpenAIEndpoint
from lfm_conformance.serving.redact import redact

LOG_TAIL_LINES = 40
STEP_DELTAS = Path(__file__).parent / "step_deltas"  # its sitecustomize: one engine step per delta
COVERAGE_VARS = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")  # coverage.py's `patch = subprocess`


class ServerError(Exception):
    """A server failed to start or died; the message carries the log tail. `exit_code` is set when the
    server process itself exited during start-up (vLLM gave up), None for anything else (refused before
    launch, not healthy in time, died later)."""

    def __init__(self, message: str, exit_code: int | None = None, log: str = ""):
        super().__init__(message)
        self.exit_code, self.log = exit_code, log  # log: the whole server log (redacted)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: new session (own process group), SIGTERM when the suite dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class VllmServer(OpenAIEndpoint):
    def __init__(self, config: ServeConfig, model_path: str, log_dir: Path, *, host: str = "127.0.0.1",
                 port: int | None = None, python: str = sys.executable, api_key: str | None = None,
                 kept: bool = False):
        self.config = config
        self.model_path = str(model_path)
        self.host = host
        self.port = port
        self.python = python
        self.api_key = api_key
        self.log_path = Path(log_dir) / f"{config.name}.log"
        self.proc: subprocess.Popen | None = None
        self.ready_s: float | None = None
        self.kept = kept  # --reuse-servers: outlives the suite, under the keeper (serving/keeper.py)
        self.reuse_key: str | None = None

    # -- command line -------------------------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_path,
               "--served-model-name", *self.config.served_names,
               "--host", self.host, "--port", str(self.port)]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        return cmd + list(self.config.args)

    def command_line(self) -> str:
        """The command as text, secrets redacted (for logs and reports)."""
        return redact(" ".join(self.command()), [self.api_key])

    # -- life -------------------------------------------------------------------------------------
    def __enter__(self) -> "VllmServer":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._refuse_bad_setup()
        if self.port is None:
            self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.config.env}
        for var in COVERAGE_VARS:  # the suite's own coverage stops at vLLM: tracing a server slows each request
            env.pop(var, None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(STEP_DELTAS), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "w", encoding="utf-8") as log:
            log.write(f"# config {self.config.name}\n# {self.command_line()}\n")
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         preexec_fn=os.setsid if self.kept else _die_with_parent)
        self._started = time.monotonic()

    def _refuse_bad_setup(self) -> None:
        """One clear error, before a minute of vLLM start-up, for what would make the start fail."""
        path = Path(self.model_path)
        if (path.is_absolute() or self.model_path.startswith(".")) and not path.is_dir():
            raise ServerError(f"model directory {self.model_path} for {self.config.name} does not exist")
        if self.port is not None:
            with socket.socket() as sock:
                try:
                    sock.bind((self.host, self.port))
                except OSError as exc:
                    raise ServerError(f"port {self.host}:{self.port} for {self.config.name} is not available "
                                      f"({exc.strerror}); pick another port or none (a free one is chosen)") from None

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = self.config.target.startup_timeout_s if timeout is None else timeout
        deadline = self._started + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                how = f" (killed by {signal.Signals(-code).name}; the suite had not stopped it)" if code < 0 else ""
                raise ServerError(f"vLLM server for {self.config.name} exited with code {code}{how} "
                                  f"during startup\n{self.log_tail()}",
                                  exit_code=code, log=redact(self.log_text(), [self.api_key]))
            if self._health_ok():
                self.ready_s = time.monotonic() - self._started
                return
            if time.monotonic() > deadline:
                raise ServerError(f"vLLM server for {self.config.name} not healthy after {timeout:.0f} s "
                                  f"(startup_timeout_s of target {self.config.target.name})\n{self.log_tail()}")
            time.sleep(0.5)

    def _health_ok(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/health"), timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_alive(self) -> None:
        """Raise ServerError with the log tail if the server has died since it started."""
        if not self.alive():
            code = None if self.proc is None else self.proc.returncode
            raise ServerError(f"vLLM server for {self.config.name} died (exit code {code})\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the whole process group, SIGKILL it after `grace` seconds."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            if _wait_group_gone(self.proc, wait):
                break
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass

    # -- access -----------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = self.log_text().splitlines()[-lines:]
        body = "\n".join(f"    {line}" for line in tail)
        return redact(f"--- last {len(tail)} lines of {self.log_path} ---\n{body}", [self.api_key])

    def record(self) -> dict:
        return {"config": self.config.name, "pid": self.proc.pid if self.proc else None,
                "pgid": self.proc.pid if self.proc else None, "port": self.port,
                "command": self.command_line(), "log": str(self.log_path), "ready_s": self.ready_s,
                "kept": self.kept}


class AttachedServer(VllmServer):
    """A kept server another run started (--reuse-servers): this run did not start it and does not
    stop it; the keeper ends it when it has been idle long enough."""

    def __init__(self, config: ServeConfig, model_path: str, kept_record: dict, **kwargs):
        super().__init__(config, model_path, Path(kept_record["log"]).parent, port=kept_record["port"],
                         kept=True, **kwargs)
        self.log_path = Path(kept_record["log"])
        self.pgid = kept_record["pgid"]
        self.reuse_key = kept_record["key"]
        self.ready_s = 0.0

    def alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def ensure_alive(self) -> None:
        if not self.alive():
            raise ServerError(f"kept vLLM server for {self.config.name} (process group {self.pgid}) died\n"
                              f"{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> None:
        """Only for a dead or refused one: end what is left of its group."""
        from lfm_conformance.serving.keeper import end_group

        end_group(self.pgid, grace)

    def record(self) -> dict:
        return {**super().record(), "pid": self.pgid, "pgid": self.pgid, "attached": True}


def _wait_group_gone(proc: subprocess.Popen, timeout: float) -> bool:
    """True once no process of proc's group is left (reaping proc itself so it is no zombie)."""
    pgid = proc.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.1)
    return False
