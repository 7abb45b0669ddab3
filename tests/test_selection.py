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


def test_xdist_loadgroup_keeps_each_group_on_one_worker(tmp_path):
    """The installed pytest + pytest-xdist really group by xdist_group (pytest 9.2 + xdist 3.8 do not)."""
    (tmp_path / "test_groups.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('n', [pytest.param(i, marks=pytest.mark.xdist_group(f'g{i % 2}')) for i in range(8)])\n"
        "def test_member(n):\n    pass\n")
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                             "-c", "/dev/null", str(tmp_path)], capture_output=True, text=True, timeout=120)
    workers = {}
    for line in result.stdout.splitlines():
        found = re.search(r"\[(gw\d)\].* PASSED .*test_member\[(\d)\]", line)
        if found:
            workers.setdefault(int(found.group(2)) % 2, set()).add(found.group(1))
    assert set(workers) == {0, 1} and all(len(w) == 1 for w in workers.values()), result.stdout[-2000:]
