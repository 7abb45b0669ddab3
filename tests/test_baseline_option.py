"""--baseline: the run's sign-off gets a release-diff section against an earlier run; a bad baseline is
refused before anything runs."""
import json
import subprocess

from tests import results_factory as rf
from tests.conftest import run_pytest

SELECTED = "suites/test_guide_data.py::test_preset_equals_guide_table[LFM2.5-230M-cpu]"


def test_signoff_has_the_release_diff_against_the_baseline(tmp_path):
    baseline = rf.doc(records=[
        rf.record(suite="guide_data", check="test_preset_equals_guide_table", status="fail", reason="was broken"),
        rf.record(suite="guide_data", check="test_serve_flags_equal_guide_command")],  # not run now: coverage lost
        commit=subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip())
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    reports = tmp_path / "reports"
    out = run_pytest(SELECTED, "--target", "cpu", f"--baseline={path}", f"--reports={reports}")
    assert out.returncode == 0, out.stdout[-2000:]
    doc = json.loads((reports / "results.json").read_text())
    d = doc["release_diff"]
    assert d["verdict"] == json.loads((reports / "diff" / "diff.json").read_text())["verdict"] == "REGRESSIONS"
    assert any("test_serve_flags_equal_guide_command" in r for r in d["regressions"])
    signoff = (reports / "signoff.md").read_text()
    assert "## Release diff against the baseline (vLLM 0.32.0): REGRESSIONS" in signoff
    # the headline includes the diff: results.json's verdict, the sign-off's first lines, the terminal line
    assert doc["summary"]["verdict"] == "REGRESSIONS" and doc["summary"]["regressions"] == d["regressions"]
    assert signoff.splitlines()[2].startswith("**REGRESSIONS against the baseline (vLLM 0.32.0, ")
    assert "sign-off: REGRESSIONS (" in out.stdout
    assert "test_serve_flags_equal_guide_command" in signoff and str(path) in signoff
    assert "Release diff against the baseline" in (reports / "signoff.html").read_text()


def test_unreadable_baseline_is_refused_before_the_run(tmp_path):
    missing = tmp_path / "nope.json"
    out = run_pytest(SELECTED, "--target", "cpu", f"--baseline={missing}", f"--reports={tmp_path / 'r'}")
    assert out.returncode == 4
    assert f"--baseline: {missing}: cannot read" in out.stderr
    assert not (tmp_path / "r" / "results.json").exists()


def test_baseline_that_is_not_a_results_file_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    out = run_pytest(SELECTED, "--target", "cpu", f"--baseline={path}", f"--reports={tmp_path / 'r'}")
    assert out.returncode == 4 and f"--baseline: {path}:" in out.stderr and "not a results.json" in out.stderr
