"""The sign-off's "Report upstream" section and its known deviations grouped by owner: each finding's status
on the report's vLLM (new here / still present / fixed here / not checked here) and its hand-over paths."""
from __future__ import annotations

import pytest

from lfm_conformance.data import deviations
from lfm_conformance.report import findings, observed, signoff
from tests import results_factory as rf


@pytest.fixture
def recorded(monkeypatch):
    """Recorded runs (docs/) that saw reasoning-field-renamed on 0.26.0 only."""
    found = observed.Observations({"reasoning-field-renamed": {"0.26.0"}}, [])
    monkeypatch.setattr(observed, "recorded", lambda: found)


def dev(vllm=">=0.32", dev_id="x", check="test_reasoning_in_documented_field"):
    return deviations.Deviation(dev_id, check, ("LFM2.5-1.2B-Thinking",), None, vllm, "d", "o", "e",
                                owner="vllm/openai-server")


def rec(status, dev_id="x", model="LFM2.5-1.2B-Thinking"):
    return rf.record(model=model, suite="reasoning", check="test_reasoning_in_documented_field", status=status,
                     deviation={**rf.DEVIATION, "id": dev_id} if status in ("known-deviation", "unexpected-pass") else None)


@pytest.mark.parametrize("vllm, records, expected", [
    (">=0.32", [rec("known-deviation")], "new here"),
    (">=0.23", [rec("known-deviation")], "still present (since vLLM 0.23)"),
    (">=0.23", [rec("unexpected-pass")], "fixed here (seen on vLLM 0.23)"),
    (">=0.23", [], "not checked here (applies by its range)"),
    (">=0.23,<0.32", [rec("pass")], "fixed here (last seen on vLLM 0.23; its check passed here)"),
    (">=0.23,<0.32", [], None),
    (">=0.33", [rec("pass")], None),
])
def test_status_on_this_version(recorded, vllm, records, expected):
    assert findings.status(dev(vllm), "0.32.0", records) == expected


def test_recorded_runs_say_since_when(recorded):
    assert findings.status(dev(">=0.26", "reasoning-field-renamed"), "0.32.0", [rec("known-deviation",
                           "reasoning-field-renamed")]) == "still present (since vLLM 0.26.0)"


def test_paths_by_owner():
    assert findings.paths("a", "guide") == ["reports/upstream/a/correction.md"]
    assert findings.paths("b", "vllm/lfm2-tool-parser") == ["reports/upstream/b/repro.py", "reports/upstream/b/issue.md"]
    assert findings.parser_finding(dev(check="test_parser_finding_surrogate_pair_escape_end_to_end")) == \
        "surrogate_pair_escape"


def test_signoff_lists_findings_per_owner_with_status_and_paths(recorded):
    doc = rf.doc()  # a known deviation reasoning-field-renamed, observed on vLLM 0.32.0
    md, page = signoff.render_markdown(doc), signoff.render_html(doc)
    section = md.split("## Report upstream", 1)[1].split("\n## ", 1)[0]
    assert "### Owner: guide (the LFM2.5 usage guide: out of date or wrong)" in section
    assert "- reasoning-field-renamed (vLLM " in section  # its range: whatever the deviations file says
    assert "still present (since vLLM 0.26.0); `reports/upstream/reasoning-field-renamed/correction.md`" in section
    assert "### Owner: vllm/lfm2-tool-parser" in section and "`reports/upstream/parser-surrogate-pair-escape/repro.py`" in section
    assert "parser finding surrogate_pair_escape" in section
    assert '<h2>Report upstream</h2>' in page
    assert '<a href="upstream/reasoning-field-renamed/correction.md">' in page


def test_known_deviations_are_grouped_by_owner(recorded):
    doc = rf.doc()
    md = signoff.render_markdown(doc)
    deviations_part = md.split("## Known deviations from the guide", 1)[1].split("\n## ", 1)[0]
    assert deviations_part.index("### Owner: guide") < deviations_part.index("#### reasoning-field-renamed")
    (group,) = signoff.deviation_groups(doc)
    assert group["owner"] == "guide"
    assert "<h3>Owner: guide" in signoff.render_html(doc)


def test_an_id_the_file_does_not_hold_is_unowned(recorded):
    doc = rf.doc(records=[rec("known-deviation", "gone-from-the-file")])
    (group,) = signoff.deviation_groups(doc)
    assert group["owner"] == findings.UNOWNED
    assert "### Owner: unowned (not in suites/known_deviations.yaml" in signoff.render_markdown(doc)
