"""scripts/coverage_review.py: every line ./run tests never executes has a reviewed reason; a group without
one is named and fails the review (exit 1), so a new never-executed function cannot pass unseen. No server."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import coverage_review  # noqa: E402


def _report(tmp_path, file: str, missing: list[int]) -> Path:
    path = tmp_path / "coverage.json"
    path.write_text(json.dumps({"files": {file: {"missing_lines": missing}},
                                "totals": {"percent_covered_display": "90"}}))
    return path


def test_a_group_with_a_reason_passes_and_is_written_under_it(tmp_path, capsys):
    out = tmp_path / "never.md"
    assert coverage_review.main([str(_report(tmp_path, "lfm_conformance/serving/gpu.py", [73])), "--markdown", str(out)]) == 0
    assert "0 groups without a reason" in capsys.readouterr().out
    assert "## gpu (1 lines)" in out.read_text() and "`lfm_conformance/serving/gpu.py` `query_nvidia_smi`" in out.read_text()


def test_a_group_without_a_reason_is_named_and_fails(tmp_path, capsys):
    line = next(i for i, text in enumerate((ROOT / "lfm_conformance/checks/perf.py").read_text().splitlines(), 1)
                if "def protocol_completed" in text) + 2
    assert coverage_review.main([str(_report(tmp_path, "lfm_conformance/checks/perf.py", [line]))]) == 1
    out = capsys.readouterr().out
    assert "lfm_conformance/checks/perf.py:protocol_completed" in out and "UNREVIEWED" in out
    assert "1 groups without a reason" in out


def test_a_missing_report_is_one_error_line(tmp_path, capsys):
    assert coverage_review.main([str(tmp_path / "none.json")]) == 2
    assert "run ./run tests first" in capsys.readouterr().err
