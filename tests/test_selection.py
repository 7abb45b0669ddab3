"""Markers and ids come from the matrix: -m selects exactly its rows."""
import re

from tests.conftest import run_pytest


def _ids(result):
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_model_1_2b_selects_only_the_five_1_2b_rows():
    result = run_pytest("suites", "-m", "model_1_2b", "--collect-only", "-q", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = _ids(result)
    models = {re.search(r"\[(LFM2\.5-[^\]]+?)-cpu(?:-|\])", i).group(1) for i in ids}
    assert models == {"LFM2.5-1.2B-Instruct", "LFM2.5-1.2B-Thinking", "LFM2.5-1.2B-JP", "LFM2.5-1.2B-JP-202606",
                      "LFM2.5-1.2B-Base"}


def test_ids_read_like_the_grid():
    result = run_pytest("suites/test_loading.py", "--collect-only", "-q", timeout=120)
    assert "suites/test_loading.py::test_first_request_returns_text[LFM2.5-1.2B-Thinking-cpu]" in result.stdout


def test_capability_markers_select_by_capability():
    result = run_pytest("suites", "-m", "vision", "--collect-only", "-q", timeout=120)
    models = {re.search(r"\[(LFM2\.5-[^\]]+?)-cpu(?:-|\])", i).group(1) for i in _ids(result)}
    assert models == {"LFM2.5-VL-450M", "LFM2.5-VL-1.6B"}


def test_strict_markers_accept_every_matrix_marker():
    result = run_pytest("suites", "-m", "model_230m or model_350m or model_8b_a1b or model_vl_450m or "
                        "model_vl_1_6b or tools or reasoning or completions or chat", "--collect-only", "-q",
                        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
