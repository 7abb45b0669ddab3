"""--baseline: the release diff is part of the verdict. REGRESSIONS outranks everything but BLOCKED,
in results.json's summary, the sign-off's first lines and the run's last terminal line."""
from pathlib import Path
from types import SimpleNamespace

import jsonschema

from lfm_conformance.report import results, signoff
from tests import results_factory as rf

BROKEN = rf.record(status="fail", reason="reply has no text")


def _with_diff(tmp_path, base, cand) -> dict:
    return results.with_release_diff(cand, base, tmp_path / "diff", str(tmp_path / "baseline.json"))


def test_regression_against_the_baseline_is_the_headline(tmp_path):
    base = rf.doc()
    cand = rf.doc(records=[rf.record(status="known-deviation", deviation=rf.DEVIATION, reason="known deviation x"),
                           base["records"][1]])  # PASS -> DEV: a promise that held breaks
    assert cand["summary"]["verdict"] == "SIGN-OFF"  # on its own, before the diff
    doc = _with_diff(tmp_path, base, cand)
    assert doc["release_diff"]["verdict"] == "REGRESSIONS"
    assert doc["summary"]["verdict"] == "REGRESSIONS" and doc["summary"]["regressions"] == doc["release_diff"]["regressions"]
    jsonschema.validate(doc, results.schema())
    first = signoff.render_markdown(doc).splitlines()[2]
    assert first.startswith("**REGRESSIONS against the baseline (vLLM 0.32.0, ") and "passed before" in first
    assert '<div class="verdict blocked">REGRESSIONS against the baseline' in signoff.render_html(doc)


def test_terminal_line_says_regressions(tmp_path):
    doc = _with_diff(tmp_path, rf.doc(), rf.doc(records=[rf.record(status="not-applicable", reason="n/a"),
                                                          rf.doc()["records"][1]]))
    lines = []
    collector = results.ResultsCollector(SimpleNamespace(option=SimpleNamespace(xmlpath=str(tmp_path / "junit.xml"))),
                                         SimpleNamespace(reports=Path(tmp_path)))
    collector.results = doc
    collector.pytest_terminal_summary(SimpleNamespace(write_line=lines.append))
    assert lines[-1].startswith("sign-off: REGRESSIONS (")
    assert any(line.startswith("  release diff: coverage lost") for line in lines)


def test_blocked_outranks_regressions_and_regressions_outrank_incomplete(tmp_path):
    blocked = _with_diff(tmp_path, rf.doc(), rf.doc(records=[BROKEN, rf.doc()["records"][1]]))
    assert blocked["release_diff"]["verdict"] == "REGRESSIONS" and blocked["summary"]["verdict"] == "BLOCKED"
    not_run = rf.record(status="not-run", reason="not run: x")
    incomplete = _with_diff(tmp_path, rf.doc(records=[rf.record(status="pass"), rf.record(check="test_other")]),
                            rf.doc(records=[not_run]))  # test_other ran before, no record now: coverage lost
    assert incomplete["summary"]["verdict"] == "REGRESSIONS"


def test_a_diff_without_regressions_leaves_the_verdict_alone(tmp_path):
    assert _with_diff(tmp_path, rf.doc(), rf.doc())["summary"]["verdict"] == "SIGN-OFF"
