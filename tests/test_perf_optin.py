"""Performance tests are opt-in: deselected (with a summary line saying how to opt in) unless -m
names perf or --perf is given."""
from tests.conftest import run_pytest


def _ids(result):
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_perf_deselected_by_default_with_a_note():
    result = run_pytest("suites/test_perf.py", "suites/test_loading.py", "-m", "model_230m", "--collect-only", "-q",
                        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _ids(result) and not [i for i in _ids(result) if "test_perf.py" in i]
    assert "perf: " in result.stdout and "tests deselected; opt in with -m perf" in result.stdout


def test_perf_selected_by_marker_or_flag():
    for args in (("-m", "perf and model_230m"), ("--perf", "-m", "model_230m")):
        result = run_pytest("suites/test_perf.py", *args, "--collect-only", "-q", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        ids = _ids(result)
        assert "suites/test_perf.py::test_benchmark_protocol[baseline-LFM2.5-230M-cpu]" in ids
        assert "suites/test_perf.py::test_knob_keeps_greedy_outputs[conv-state-layout-DS-LFM2.5-230M-cpu]" in ids
        assert "opt in with -m perf" not in result.stdout


def test_perf_figures_printed_and_written(tmp_path):
    """Figures a perf test records end up in a table at the end of the run and in <reports>/perf.json."""
    import json

    (tmp_path / "test_fake_perf.py").write_text(
        "import pytest\n"
        "@pytest.mark.perf\n"
        "def test_protocol(record_property):\n"
        "    record_property('figures', {'kind': 'perf', 'test': 'protocol', 'model': 'LFM2.5-230M', 'where': 'cpu',"
        " 'output_throughput': 123.4, 'failed': 0})\n")
    reports = tmp_path / "reports"
    result = run_pytest(str(tmp_path / "test_fake_perf.py"), "-p", "lfm_conformance.harness.plugin", "-p",
                        "lfm_conformance.harness.perf_optin", "--perf", f"--reports={reports}", f"--rootdir={tmp_path}",
                        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "perf figures" in result.stdout and "out 123.4 tok/s" in result.stdout
    doc = json.loads((reports / "perf.json").read_text())
    assert doc["environment"]["target"] == "cpu" and doc["environment"]["cpus"]
    assert doc["measurements"][0]["figures"]["output_throughput"] == 123.4
    assert doc["measurements"][0]["outcome"] == "passed"
