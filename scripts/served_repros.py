#!/usr/bin/env python3
"""The served upstream reproductions (report/upstream.py, kind `served`) against real vLLM servers of the CPU
fixtures, with this environment's vLLM: one server per flag set (plain, the tool flags, VL), each repro run
with `--base-url` and `--tokenizer` (the fixture's), its exit compared with the suite's verdict for its entry
on this version (1 where the entry applies on the cpu target). CI cannot run them without servers and
minutes; run it per release:

    "$(LFMC_VLLM=0.26.0 scripts/bootstrap.sh | tail -n 1)/bin/python" scripts/served_repros.py

Prints one line per repro and `N of M served repros agree`; exit 1 when one disagrees. Its servers are the
suite's own VllmServer (serving/server.py), ended when it ends."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fixtures import build  # noqa: E402
from lfm_conformance.data import deviations, matrix as matrix_mod  # noqa: E402
from lfm_conformance.report import upstream  # noqa: E402
from lfm_conformance.serving import cpu_shims  # noqa: E402
from lfm_conformance.serving.server import ServerError, VllmServer  # noqa: E402

# The servers the served repros need: (model whose fixture it serves, vllm serve flags besides the target's).
SERVERS = {"plain": ("LFM2.5-350M", ()), "tools": ("LFM2.5-350M", tuple(upstream.TOOL_FLAGS)),
           "vl": ("LFM2.5-VL-450M", ())}


def server_key(report) -> str:
    return "vl" if report.served["model"] == upstream.DEFAULT_VL_MODEL else "tools" if report.served["flags"] else "plain"


def main() -> int:
    version = deviations.installed_vllm_version()
    m = matrix_mod.load()
    shim = cpu_shims.for_run(m, "cpu", version)
    m = cpu_shims.apply(m, shim) if shim else m
    work = Path(tempfile.mkdtemp(prefix="served-repros-"))
    reports = [r for r in upstream.build_reports() if r.kind == "served"]
    with ExitStack() as stack:
        servers = {}
        for key, (name, flags) in SERVERS.items():
            model = m.models[name]
            base = m.serve_config(model, "cpu")
            config = dataclasses.replace(base, name=f"served-repro-{key}", args=flags + base.target.serve_args)
            servers[key] = VllmServer(config, build.ensure(model.fixture, m), work / "logs")
            stack.callback(servers[key].stop)
            servers[key].start()  # all three start side by side, then each is waited for
        for key, server in servers.items():
            try:
                server.wait_ready()
            except ServerError as exc:
                print(f"error: the {key} server did not start: {exc}", file=sys.stderr)
                return 2
        upstream.write(reports, work / "upstream")
        applying = {d.id for d in deviations.load(vllm_version=version).applying("cpu")}
        agree = 0
        for r in reports:
            server = servers[server_key(r)]
            run = subprocess.run([sys.executable, str(work / "upstream" / r.id / "repro.py"), "--base-url", server.url(""),
                                  "--model", server.config.served_names[0], "--tokenizer", server.model_path],
                                 capture_output=True, text=True, timeout=600)
            want = int(r.id in applying)
            agree += run.returncode == want
            print(f"vLLM {version}  {r.id:48s} repro exit {run.returncode}  suite {'DEV' if want else 'no deviation'}  "
                  f"{'agree' if run.returncode == want else 'DISAGREE'}")
            if run.returncode != want:
                print("    " + run.stdout[-800:].replace("\n", "\n    "))
    print(f"vLLM {version}: {agree} of {len(reports)} served repros agree")
    return 0 if agree == len(reports) else 1


if __name__ == "__main__":
    sys.exit(main())
