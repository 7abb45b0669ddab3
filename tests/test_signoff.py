"""The sign-off report read by a release manager: verdict, grid, deviations, accuracy, environment."""
import jsonschema
import pytest

from lfm_conformance.report import results, signoff
from tests import results_factory as rf

ACCURACY = {"kind": "accuracy", "task": "gsm8k", "metric": "exact_match,strict-match", "measured": 0.31,
            "expected": 0.33, "rtol": 0.1, "samples": 250, "baseline_source": "model card", "review": True}


def test_signed_off_run_says_so_and_lists_its_deviations():
    doc = rf.doc()
    md, page = signoff.render_markdown(doc), signoff.render_html(doc)
    assert "**SIGN-OFF: 2 checks on cpu, no failure, error or unexpected pass; 1 known deviation from the guide" in md
    assert '<div class="verdict ok">SIGN-OFF' in page
    # documented vs observed vs evidence from the entry, and what this run saw
    for text in ("splits &lt;think&gt; into message.reasoning_content", rf.DEVIATION["observed"], "observed: reasoning",
                 "Observed in this run (LFM2.5-1.2B-Thinking / cpu)"):
        assert text in md
    assert "&lt;think&gt;" in page and "<think>" not in page


def test_blocked_run_lists_the_failing_cells_and_their_evidence():
    recs = [rf.record(status="fail", reason="reply has no text", evidence="reply has no text\n  observed: ''"),
            rf.record(suite="tool_calls", check="test_parallel", status="error", reason="in setup: server died",
                      evidence="vLLM server died\n--- last 40 lines ---"),
            rf.record(suite="vision", check="test_image", status="not-applicable",
                      reason="not applicable: LFM2.5-230M has no vision capability in the guide")]
    doc = rf.doc(records=recs)
    md = signoff.render_markdown(doc)
    assert ("**BLOCKED: LFM2.5-230M / cpu / loading: FAIL test_first_request_returns_text; "
            "LFM2.5-230M / cpu / tool_calls: ERROR test_parallel**") in md
    assert "### ERROR LFM2.5-230M / cpu / tool_calls / test_parallel" in md and "--- last 40 lines ---" in md
    assert "| LFM2.5-230M | FAIL (1) test_first_request_returns_text: reply has no text | ERROR (1)" in md
    assert "n/a (1) no vision capability |" in md
    assert '<div class="verdict blocked">BLOCKED' in signoff.render_html(doc)


def test_accuracy_table_and_other_figures():
    recs = [rf.record(suite="accuracy", check="test_gsm8k", figures=[ACCURACY]),
            rf.record(suite="perf", check="test_throughput", figures=[{"kind": "perf", "output_tok_s": 812.25}])]
    md = signoff.render_markdown(rf.doc(records=recs))
    assert ("| LFM2.5-230M | cpu | gsm8k | exact_match,strict-match | 0.31 | 0.33 | -6.1% | 0.1 | 250 | model card "
            "| yes | PASS |") in md
    assert "| LFM2.5-230M | cpu | test_throughput | perf | output_tok_s=812.2 |" in md


def test_environment_block_names_versions_hardware_and_commands():
    md = signoff.render_markdown(rf.doc("H100"))
    for text in ("| vLLM | 0.32.0 |", "NVIDIA H100 80GB HBM3, 81559 MiB, driver 580.65", rf.COMMIT, rf.MATRIX_SHA,
                 "2026-11-27T05:00:00+00:00 to 2026-11-27T05:06:30+00:00", "`python -m vllm.entrypoints"):
        assert text in md


def test_html_is_one_self_contained_page():
    page = signoff.render_html(rf.doc())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    for external in ("<script", "<link", "src=", "http://", "https://", "@import"):
        assert external not in page


def test_hand_made_documents_match_the_schema_and_a_bad_one_does_not():
    validator = jsonschema.Draft202012Validator(results.schema())
    validator.validate(rf.doc())
    bad = rf.doc(records=[rf.record(figures=[{**ACCURACY, "measured": "high"}])])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)


def test_verdict_names_a_check_failing_for_many_cases_once_with_the_count():
    recs = [rf.record(suite="robustness", check="test_malformed_request_refused", status="fail", case=c)
            for c in ("body-is-a-list", "body-is-a-string", "deep-nesting")]
    doc = rf.doc(records=recs)
    assert doc["summary"]["blocking"] == [
        "LFM2.5-230M / cpu / robustness: FAIL test_malformed_request_refused (3 cases)"]
