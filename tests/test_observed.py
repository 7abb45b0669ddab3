"""Observed vs carried over: which vLLM versions showed a known deviation (the recorded runs under docs/,
and this report's own DEV records), and the sign-off telling them apart from entries that apply to this
version only by their open range."""
import json

import pytest

from lfm_conformance.report import observed, signoff
from tests import results_factory as rf

ENTRY = """- id: reasoning-field-renamed
  check: test_reasoning_in_documented_field
  owner: guide
  models: [LFM2.5-1.2B-Thinking]
  vllm: ">=0.23"
  documented: d
  observed: o
  evidence: e
  signature: {problem: '^the reasoning is not in the documented field reasoning_content$', observed: 'reasoning found in'}
"""


def _thinking(status, **kw):
    return rf.record(model="LFM2.5-1.2B-Thinking", suite="reasoning", check="test_reasoning_in_documented_field",
                     status=status, **kw)


def _recorded(tmp_path, version, records):
    doc = rf.doc(records=records)
    doc["runs"][0]["environment"]["vllm"] = version
    (tmp_path / f"run-{version}").mkdir()
    (tmp_path / f"run-{version}" / "results.json").write_text(json.dumps(doc))


def test_dev_records_and_plain_failures_matching_the_entry_are_observations(tmp_path):
    known = tmp_path / "known.yaml"
    known.write_text(ENTRY)
    failure = ("the reasoning is not in the documented field reasoning_content\n"
               "  observed: reasoning found in 'reasoning'")
    _recorded(tmp_path, "0.26.0", [_thinking("known-deviation", deviation=rf.DEVIATION, reason="known deviation ...")])
    _recorded(tmp_path, "0.23.0", [_thinking("fail", reason=failure.splitlines()[0], evidence=failure)])
    _recorded(tmp_path, "0.24.0", [_thinking("fail", reason="another failure", evidence="another failure")])
    _recorded(tmp_path, "0.25.0", [_thinking("unexpected-pass", deviation=rf.DEVIATION), _thinking("pass")])
    found = observed.load(tmp_path, known)
    assert found.versions("reasoning-field-renamed") == ["0.23.0", "0.26.0"]  # not the other failure, nor a pass
    assert found.versions("never-seen") == [] and len(found.sources) == 4


def test_the_recorded_runs_under_docs_are_read():
    found = observed.recorded()
    assert "0.23.0" in found.versions("reasoning-field-renamed")  # docs/gpu-run-2026-11-27 (plain failures)
    assert "0.26.0" in found.versions("reasoning-field-renamed")  # docs/cpu-vllm-0.26.0-run (DEV)


@pytest.fixture
def recorded(monkeypatch):
    found = observed.Observations({"reasoning-field-renamed": {"0.23.0", "0.26.0"}, "carried": {"0.26.0"}}, [])
    monkeypatch.setattr(observed, "recorded", lambda: found)


def test_a_dev_record_of_this_run_is_observed_on_this_version(recorded):
    doc = rf.doc()  # vLLM 0.32.0, one DEV record of reasoning-field-renamed
    (group,) = signoff.deviation_groups(doc)
    assert group["state"] == "observed on this version (vLLM 0.32.0: a DEV record of this report)"
    assert group["seen_on"] == "this report (vLLM 0.32.0); recorded runs: vLLM 0.23.0, 0.26.0"
    md = signoff.render_markdown(doc)
    assert "### reasoning-field-renamed (vLLM >=0.32): observed on this version (vLLM 0.32.0" in md
    assert "- **Seen on:** this report (vLLM 0.32.0); recorded runs: vLLM 0.23.0, 0.26.0" in md
    assert signoff.CARRIED_HEADING not in md  # the run lists no entry it did not show


def test_entries_applying_by_range_without_a_record_are_carried_over(recorded):
    doc = rf.doc()
    doc["runs"][0]["environment"]["vllm"] = "0.35.0"
    doc["runs"][0]["known_deviations"] = [
        {"id": "reasoning-field-renamed", "vllm": ">=0.23", "check": "test_reasoning_in_documented_field"},
        {"id": "carried", "vllm": ">=0.26", "check": "test_other"},
        {"id": "unseen", "vllm": ">=0.35", "check": "test_third"}]
    assert signoff.carried_over(doc) == [
        "carried (vLLM >=0.26, test_other) on vLLM 0.35.0 / cpu: carried over from vLLM 0.26.0, not yet observed here",
        "unseen (vLLM >=0.35, test_third) on vLLM 0.35.0 / cpu: carried over by its range, observed by no recorded "
        "run (docs/) nor here"]
    md, page = signoff.render_markdown(doc), signoff.render_html(doc)
    assert f"### {signoff.CARRIED_HEADING}" in md and "carried over from vLLM 0.26.0, not yet observed here" in md
    assert "carried over from vLLM 0.26.0, not yet observed here" in page


def test_a_deviation_gone_here_is_not_carried_over(recorded):
    doc = rf.doc(records=[_thinking("unexpected-pass", deviation=rf.DEVIATION, reason="no longer happens")])
    doc["runs"][0]["known_deviations"] = [{"id": rf.DEVIATION["id"], "vllm": ">=0.32", "check": "c"}]
    (group,) = signoff.deviation_groups(doc)
    assert group["state"].startswith("no longer happens on LFM2.5-1.2B-Thinking / cpu")
    assert signoff.carried_over(doc) == []
