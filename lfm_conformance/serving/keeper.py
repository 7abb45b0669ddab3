"""--reuse-servers: each configuration's server outlives the run, kept by a small supervisor (the
keeper) until it has been idle for `idle_s` (default 15 min); the next run that needs the same
configuration attaches to it: no start. A server is the same when its key (the full command
without the port, the environment the suite adds, the vLLM version, the Python that runs it; the
model path names the fixture's content hash) matches, and attaching checks what it serves
(/version, /v1/models: names and model path) before trusting it.

State under $LFMC_HOME/servers/: one <key>.json and <key>.log per kept server, keeper.log, and
keeper.lock, held by the supervisor while it runs. The supervisor is `python -m
lfm_conformance.serving.keeper supervise`: it ends each kept server's process group at its idle
deadline (or when its owner run died long ago), and exits once it keeps nothing. `list` prints the
kept servers with their deadlines, `stop` ends them all (`./run stop-servers`). Only the recorded
process groups are ever signalled."""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from lfm_conformance.data.home import lfmc_home

IDLE_S = 15 * 60
POLL_S = 5.0


def default_home() -> Path:
    return lfmc_home() / "servers"


def reuse_key(command: list[str], env: dict, vllm_version: str | None) -> str:
    """What makes two servers the same: the command without its port, the suite's environment
    additions, the vLLM version (the command's Python names the environment)."""
    args, skip = [], False
    for arg in command:
        if skip:
            skip = False
        elif arg == "--port":
            skip = True
        else:
            args.append(arg)
    blob = json.dumps([args, sorted(env.items()), vllm_version])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, grace: float = 15.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.1)
        if not group_alive(pgid):
            return


class Keeper:
    def __init__(self, home: Path | None = None, idle_s: float = IDLE_S):
        self.home = Path(home or default_home())
        self.idle_s = idle_s

    # -- records ----------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.home / f"{key}.json"

    def log_path(self, key: str) -> Path:
        return self.home / f"{key}.log"

    @contextmanager
    def _locked(self):
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "records.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def _write(self, record: dict) -> None:
        tmp = self._path(record["key"]).with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self._path(record["key"]))

    def records(self) -> list[dict]:
        out = []
        for path in sorted(self.home.glob("*.json")) if self.home.is_dir() else []:
            record = self._read(path.stem)
            if record:
                out.append(record)
        return out

    def forget(self, key: str) -> None:
        with self._locked():
            self._path(key).unlink(missing_ok=True)

    # -- what a run does ------------------------------------------------------------------------
    def claim(self, key: str, served_names: tuple[str, ...], model_path: str,
              vllm_version: str | None) -> tuple[dict | None, str | None]:
        """(the kept server for `key`, now in use by this process, or None; why none is usable: None
        when nothing is kept, "busy" when another live run uses it: start an own, unkept one). A stale
        or different server is ended and forgotten (the reason says what differed)."""
        with self._locked():
            record = self._read(key)
            if record is None:
                return None, None
            owner = record.get("in_use_by")
            if owner not in (None, os.getpid()) and pid_alive(owner):
                return None, "busy"
            problem = self._mismatch(record, served_names, model_path, vllm_version)
            if problem is not None:
                end_group(record["pgid"])
                self._path(key).unlink(missing_ok=True)
                return None, problem
            record.update(in_use_by=os.getpid(), idle_deadline=None, attached=record.get("attached", 0) + 1)
            self._write(record)
            return record, None

    def register(self, key: str, config_name: str, pgid: int, port: int, command: str,
                 served_names: tuple[str, ...], model_path: str, vllm_version: str | None) -> None:
        with self._locked():
            self._write({"key": key, "config": config_name, "pgid": pgid, "port": port, "command": command,
                         "served_names": list(served_names), "model_path": model_path, "vllm": vllm_version,
                         "log": str(self.log_path(key)), "in_use_by": os.getpid(), "idle_deadline": None,
                         "idle_s": self.idle_s, "started": time.time(), "attached": 0})
        ensure_supervisor(self.home)

    def release(self, key: str) -> dict | None:
        """The run is done with it: idle from now."""
        with self._locked():
            record = self._read(key)
            if record is None:
                return None
            record.update(in_use_by=None, idle_deadline=time.time() + record.get("idle_s", self.idle_s))
            self._write(record)
        ensure_supervisor(self.home)
        return record

    @staticmethod
    def _mismatch(record: dict, served_names, model_path: str, vllm_version: str | None) -> str | None:
        if not group_alive(record["pgid"]):
            return "its process group is gone"
        base = f"http://127.0.0.1:{record['port']}"
        try:
            with urllib.request.urlopen(base + "/health", timeout=3) as resp:
                if resp.status != 200:
                    return f"/health answered {resp.status}"
            with urllib.request.urlopen(base + "/version", timeout=3) as resp:
                version = json.load(resp).get("version")
            with urllib.request.urlopen(base + "/v1/models", timeout=3) as resp:
                models = json.load(resp).get("data", [])
        except (OSError, ValueError) as exc:
            return f"not answering ({exc})"
        if vllm_version and version and not str(version).startswith(vllm_version.split("+")[0]):
            return f"serves vLLM {version}, this run has {vllm_version}"
        ids = sorted(m.get("id") for m in models)
        roots = {m.get("root") for m in models}
        if ids != sorted(served_names) or roots != {model_path}:
            return f"serves {ids} from {sorted(map(str, roots))}, expected {sorted(served_names)} from {model_path}"
        return None

    # -- the supervisor's work ------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> list[str]:
        """End kept servers past their idle deadline, whose group died, or whose owner run died
        (idle from then on); returns what it did, a line each."""
        now = time.time() if now is None else now
        done = []
        with self._locked():
            for record in self.records():
                key = record["key"]
                if not group_alive(record["pgid"]):
                    self._path(key).unlink(missing_ok=True)
                    done.append(f"{record['config']}: process group {record['pgid']} gone; forgotten")
                elif record.get("in_use_by") and not pid_alive(record["in_use_by"]):
                    record.update(in_use_by=None, idle_deadline=now + record.get("idle_s", self.idle_s))
                    self._write(record)
                    done.append(f"{record['config']}: its run ended without releasing it; idle from now")
                elif record.get("idle_deadline") and now >= record["idle_deadline"]:
                    end_group(record["pgid"])
                    self._path(key).unlink(missing_ok=True)
                    done.append(f"{record['config']}: idle for {record.get('idle_s', self.idle_s):.0f} s; ended")
        return done

    def stop_all(self) -> list[str]:
        done = []
        with self._locked():
            for record in self.records():
                end_group(record["pgid"])
                self._path(record["key"]).unlink(missing_ok=True)
                done.append(f"{record['config']} (port {record['port']}, process group {record['pgid']}): ended")
        return done


def describe(record: dict) -> str:
    if record.get("in_use_by"):
        when = f"in use by process {record['in_use_by']}"
    else:
        when = "idle until " + datetime.fromtimestamp(record["idle_deadline"]).strftime("%H:%M:%S")
    return f"{record['config']}: port {record['port']}, process group {record['pgid']}, {when}"


def ensure_supervisor(home: Path) -> None:
    """Start the supervisor unless one holds keeper.lock: a detached session of its own, so it
    outlives the run that started it (it exits when it keeps nothing)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "keeper.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # running
        fcntl.flock(lock, fcntl.LOCK_UN)
    root = str(Path(__file__).resolve().parents[2])
    with open(home / "keeper.log", "a") as log:
        subprocess.Popen([sys.executable, "-m", "lfm_conformance.serving.keeper", "supervise", "--home", str(home)],
                         cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, env={**os.environ, "PYTHONPATH": root})


def supervise(home: Path, poll_s: float = POLL_S) -> int:
    keeper = Keeper(home)
    with open(home / "keeper.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another supervisor runs
        print(f"{datetime.now():%H:%M:%S} keeper {os.getpid()}: supervising {home}", flush=True)
        while True:
            for line in keeper.sweep():
                print(f"{datetime.now():%H:%M:%S} {line}", flush=True)
            if not keeper.records():
                print(f"{datetime.now():%H:%M:%S} keeper {os.getpid()}: nothing kept; exiting", flush=True)
                return 0
            time.sleep(poll_s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="servers kept between runs (--reuse-servers)")
    ap.add_argument("action", choices=("list", "stop", "supervise"))
    ap.add_argument("--home", default=None, help="state folder (default: $LFMC_HOME/servers)")
    args = ap.parse_args(argv)
    home = Path(args.home) if args.home else default_home()
    if args.action == "supervise":
        return supervise(home)
    keeper = Keeper(home)
    lines = [describe(r) for r in keeper.records()] if args.action == "list" else keeper.stop_all()
    print("\n".join(lines) if lines else "no kept servers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
