"""Performance tests (marker `perf`) are opt-in: deselected unless the run asks for them with
`-m` naming perf or with `--perf` (./run conformance passes --perf; the sign-off needs the figures).
At the end of a run with perf tests, their figures are printed as one table."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lfm_conformance.report import results

MARKER = "perf"
_DESELECTED = pytest.StashKey[int]()


def pytest_addoption(parser):
    parser.getgroup("lfm-conformance").addoption(
        "--perf", action="store_true", default=False,
        help="run the performance suite (marker perf: benchmark protocol, knob equivalence, tokenizer shim); "
             "off unless given or -m names perf")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}: performance check (opt-in: --perf or -m {MARKER})")
    config.stash[_DESELECTED] = 0


def opted_in(config) -> bool:
    return config.getoption("--perf") or MARKER in (config.getoption("-m") or "")


def pytest_collection_modifyitems(config, items):
    if opted_in(config):
        return
    dropped = [item for item in items if item.get_closest_marker(MARKER)]
    if dropped:
        keep = [item for item in items if not item.get_closest_marker(MARKER)]
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config.stash[_DESELECTED] = len(dropped)


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    count = config.stash.get(_DESELECTED, 0)
    if count:
        terminalreporter.write_line(f"perf: {count} tests deselected; opt in with -m {MARKER} (or --perf)")
    measured = list(_perf_figures(terminalreporter))
    if measured:
        terminalreporter.write_sep("=", "perf figures")
        for report, figures in measured:
            terminalreporter.write_line(_row(report, figures))
        path = _write(config, measured)
        terminalreporter.write_line(f"perf figures written to {path}")


def _write(config, measured) -> Path:
    """<reports>/perf.json: every perf measurement with its test and outcome, and the environment."""
    from lfm_conformance.data import deviations
    from lfm_conformance.harness.plugin import STATE

    state = config.stash[STATE]
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    doc = {"environment": {"vllm": deviations.installed_vllm_version(), "torch": torch_version,
                           "target": state.target, "matrix_sha256": state.matrix.sha256,
                           "machine": results.hardware()["name"], "cpus": os.cpu_count()},
           "measurements": [{"test": report.nodeid, "outcome": report.outcome, "figures": figures}
                            for report, figures in measured]}
    path = state.reports / "perf.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _perf_figures(terminalreporter):
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "figures" and isinstance(value, dict) and value.get("kind") == "perf":
                    yield report, value


def _num(value, fmt="{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _row(report, f: dict) -> str:
    """One line per measurement: what, where, outcome, then the figures that matter for it."""
    head = f"{report.outcome:<7} {f.get('model', '?'):<16} {f.get('where', '?'):<5} {f['test']:<24} "
    head += f"{f.get('knob') or f.get('setting') or 'baseline':<26} "
    if f["test"] == "knob_outputs":
        return head + f"greedy outputs identical on {f['identical']}/{f['prompts']} prompts (promise: {f['promise']})"
    text = (f"out {_num(f.get('output_throughput'))} tok/s, total {_num(f.get('total_token_throughput'))} tok/s, "
            f"TTFT mean/median/p99 {_num(f.get('mean_ttft_ms'))}/{_num(f.get('median_ttft_ms'))}/"
            f"{_num(f.get('p99_ttft_ms'))} ms, TPOT {_num(f.get('mean_tpot_ms'))}/{_num(f.get('median_tpot_ms'))}/"
            f"{_num(f.get('p99_tpot_ms'))} ms, ITL {_num(f.get('mean_itl_ms'))}/{_num(f.get('median_itl_ms'))}/"
            f"{_num(f.get('p99_itl_ms'))} ms, failed {f.get('failed')}")
    if f.get("measured_gain") is not None:
        text += f"; gain {f['measured_gain'] * 100:+.1f}% (guide: {f['claimed_gain'] * 100:+.1f}%)"
    if f.get("mean_ttft_vs_baseline") is not None:
        text += f"; mean TTFT {f['mean_ttft_vs_baseline'] * 100:+.1f}% vs baseline"
    if f.get("baseline"):
        b = f["baseline"]
        text += f"; baseline {b['metric']} {b['value']:.1f} rtol {b['rtol']}"
    return head + text
