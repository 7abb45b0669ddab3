#!/usr/bin/env python3
"""The served upstream reproductions (report/upstream.py, kind `served`) against real vLLM servers of the CPU
fixtures, with this environment's vLLM: one server per flag set (plain, the tool flags, VL), each repro run
with `--base-url` and `--tokenizer` (the fixture's), its exit compared with the suite's verdict for its entry
on this version (1 where the entry applies on the cpu target). CI cannot run them without servers and
minutes; run it per release:

    "$(LFMC_VLLM=0.26.0 scripts/bootstrap.sh | tail -n 1)/bin/python" scripts/served_repros.py

Prints one line per repro and `N of M served repros agree`; exit 1 when one disagrees. Its servers are
process groups of their own, ended when it ends."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fixtures import build  # noqa: E402
from lfm_conformance.data import deviations, matrix as matrix_mod  # noqa: E402
from lfm_conformance.serving import cpu_shims  # noqa: E402
from lfm_conformance.report import upstream  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    version = deviations.installed_vllm_version()
    m = matrix_mod.load()
    shim = cpu_shims.for_run(m, "cpu", version)
    target = (cpu_shims.apply(m, shim) if shim else m).targets["cpu"]
    env = {**os.environ, **target.env}
    fixtures = {"plain": build.ensure("dense-chat", m), "vl": build.ensure("vl", m)}
    fixtures["tools"] = fixtures["plain"]
    flags = {"plain": [], "tools": upstream.TOOL_FLAGS, "vl": []}
    servers, logs = {}, Path(tempfile.mkdtemp(prefix="served-repros-"))
    reports = [r for r in upstream.build_reports() if r.kind == "served"]
    try:
        for key in fixtures:
            port = free_port()
            servers[key] = (subprocess.Popen(
                [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(fixtures[key]),
                 "--served-model-name", "m", "--host", "127.0.0.1", "--port", str(port), *target.serve_args, *flags[key]],
                stdout=open(logs / f"{key}.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True),
                f"http://127.0.0.1:{port}")
        for key, (proc, base) in servers.items():
            deadline = time.monotonic() + target.startup_timeout_s
            while True:
                try:
                    urllib.request.urlopen(base + "/health", timeout=5)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        print(f"error: the {key} server did not start; see {logs / (key + '.log')}", file=sys.stderr)
                        return 2
                    time.sleep(2)
        upstream.write(reports, logs / "upstream")
        applying = {d.id for d in deviations.load(vllm_version=version).applying("cpu")}
        agree = 0
        for r in reports:
            key = "vl" if r.served["model"] == upstream.DEFAULT_VL_MODEL else "tools" if r.served["flags"] else "plain"
            run = subprocess.run([sys.executable, str(logs / "upstream" / r.id / "repro.py"), "--base-url", servers[key][1],
                                  "--model", "m", "--tokenizer", str(fixtures[key])], capture_output=True, text=True,
                                 timeout=600)
            want = int(r.id in applying)
            agree += run.returncode == want
            print(f"vLLM {version}  {r.id:48s} repro exit {run.returncode}  suite {'DEV' if want else 'no deviation'}  "
                  f"{'agree' if run.returncode == want else 'DISAGREE'}")
            if run.returncode != want:
                print("    " + run.stdout[-800:].replace("\n", "\n    "))
        print(f"vLLM {version}: {agree} of {len(reports)} served repros agree")
        return 0 if agree == len(reports) else 1
    finally:
        for proc, _ in servers.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


if __name__ == "__main__":
    sys.exit(main())
