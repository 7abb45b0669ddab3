"""Performance tests (marker `perf`) are opt-in: deselected unless the run asks for them with
`-m` naming perf or with `--perf` (./run conformance passes --perf; the sign-off needs the figures)."""
from __future__ import annotations

import pytest

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
    count = config.stash.get(_DESELECTED, 0)
    if count and not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"perf: {count} tests deselected; opt in with -m {MARKER} (or --perf)")
