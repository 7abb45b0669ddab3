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
    assert ("**SIGN-OFF: 2 checks on cpu (1 DEV, 1 PASS), no failure, error, unexpected pass, NOT RUN or PENDING; "
            "1 known deviation from the guide") in md
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
    assert ("**BLOCKED: FAIL loading / test_first_request_returns_text: reply has no text [1 case: LFM2.5-230M / cpu]; "
            "the suite could not check: ERROR tool_calls / test_parallel: in setup: server died "
            "[1 case: LFM2.5-230M / cpu] (1 FAIL, 1 ERROR, 1 n/a)**") in md
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
        "FAIL robustness / test_malformed_request_refused [3 cases: LFM2.5-230M / cpu[body-is-a-list], "
        "LFM2.5-230M / cpu[body-is-a-string], LFM2.5-230M / cpu[deep-nesting]]"]


def test_identical_failures_across_models_are_one_entry_and_suite_errors_stand_apart():
    """49 copies of one suite bug are one line with the count, apart from vLLM's failures."""
    bug = "AttributeError: 'RemoteEndpoint' object has no attribute 'host'"
    recs = [rf.record(model=f"M{i}", suite="robustness", check="test_malformed_request_refused", status="error",
                      reason=bug, case=f"case-{i}") for i in range(49)]
    recs.append(rf.record(suite="tool_calls", check="test_parallel", status="fail", reason="wrong finish_reason"))
    summary = rf.doc(records=recs)["summary"]
    assert summary["blocking"] == ["FAIL tool_calls / test_parallel: wrong finish_reason [1 case: LFM2.5-230M / cpu]"]
    assert len(summary["suite_errors"]) == 1 and summary["suite_errors"][0].startswith(
        f"ERROR robustness / test_malformed_request_refused: {bug} [49 cases: M0 / cpu[case-0], ")
    assert summary["suite_errors"][0].endswith(", +45 more]")
    md = signoff.render_markdown(rf.doc(records=recs))
    assert "The suite could not check (its own error, not a verdict on vLLM):" in md


@pytest.mark.parametrize("status,reason", [("not-run", "not run: needs control of the server (remote mode)"),
                                           ("pending", "pending: no baseline; record it with: ./run conformance -m perf"),
                                           ("skipped", "needs a GPU")])
def test_not_run_or_pending_is_incomplete_not_sign_off(status, reason):
    recs = [rf.record(), rf.record(suite="perf", check="test_benchmark_protocol", status=status, reason=reason)]
    doc = rf.doc(records=recs)
    assert doc["summary"]["verdict"] == "INCOMPLETE"
    assert doc["summary"]["incomplete"] == [f"NOT RUN perf / test_benchmark_protocol: {reason} [1 case: LFM2.5-230M / cpu]"
                                            .replace("NOT RUN", "PENDING" if status == "pending" else "NOT RUN")]
    md = signoff.render_markdown(doc)
    assert md.split("\n")[2].startswith("**INCOMPLETE (1 ") and reason in md.split("\n")[2]
    assert '<div class="verdict incomplete">INCOMPLETE' in signoff.render_html(doc)


def test_a_selection_states_its_scope_and_cannot_sign_off():
    doc = rf.doc(records=[rf.record()])
    assert doc["summary"]["verdict"] == "SIGN-OFF"  # no universe recorded: nothing known to be left out
    run = {**rf.run(), "selection": {"markers": "model_230m", "keywords": "test_first"},
           "universe": {"models": ["LFM2.5-230M", "LFM2.5-350M"], "suites": ["loading", "vision"]}}
    doc = results.assemble([run], [rf.record()])
    assert doc["summary"]["verdict"] == "INCOMPLETE"
    assert doc["summary"]["scope"] == ["a selection of the checks (-m 'model_230m' -k 'test_first')",
                                       "models not run: LFM2.5-350M", "behaviours not run: vision"]


def test_measured_and_pass_cells_never_hide_what_did_not_run():
    from lfm_conformance.report import grid

    assert grid.worst(["pass", "not-run"]) == "not-run" and grid.worst(["pass", "skipped"]) == "skipped"
    assert grid.worst(["pass", "measured"]) == "measured" and grid.worst(["measured", "known-deviation"]) == "known-deviation"
    assert grid.worst(["known-deviation", "pending"]) == "pending" and grid.worst(["pending", "not-run"]) == "not-run"
    assert grid.worst(["not-run", "unexpected-pass", "error"]) == "error" and grid.worst(["error", "fail"]) == "fail"
    assert grid.worst(["pass", "not-applicable"]) == "pass"
    for reason, status in (("not applicable: no vision", "not-applicable"), ("pending: no baseline", "pending"),
                           ("not run: remote mode", "not-run"), ("needs a GPU", "not-run")):
        assert grid.skip_status(f"Skipped: {reason}") == status


# -- guide coverage and errata --------------------------------------------------------------------------
def test_guide_coverage_counts_sections_and_unverified_claims():
    recs = [rf.record(), rf.record(suite="guide_data", check="test_docker_command_equals_guide", case="B200",
                                   status="fail", reason="the suite's docker run is not the guide's")]
    doc = rf.doc(records=recs)
    md, page = signoff.render_markdown(doc), signoff.render_html(doc)
    cov = doc["coverage"]
    assert "## Guide coverage" in md and "<h2>Guide coverage</h2>" in page
    assert f"{len(cov['claims'])} claims in {len(cov['sections'])} sections of the guide" in md
    counts = cov["counts"]["cpu"]
    assert f"| cpu | {counts['failed']} | {counts['not-run']} |" in md  # columns: statuses present, worst first
    assert "| Docker Deployment | 1 | 1 failed |" in md
    assert ("| docker-run-command | Docker Deployment | cpu | failed | docker run -itd --name lfm2.5 \\ --ipc=host"
            in md)
    assert "FAIL test_docker_command_equals_guide: the suite's docker run is not the guide's (LFM2.5-230M[B200])" in md
    assert md.index("| docker-run-command |") < md.index("| 230m-min-gpu |")  # failed before gpu-only
    assert 'background:#f4b4b4">failed</span>' in page


def test_guide_errata_show_both_readings_and_the_suites_per_gpu():
    doc = rf.doc()
    md, page = signoff.render_markdown(doc), signoff.render_html(doc)
    assert "## Guide errata" in md and "### 8b-a1b-gpus: which GPUs LFM2.5-8B-A1B runs on (LFM2.5-8B-A1B)" in md
    assert '- **prose-list** (guide, Pick a model / GPU): "the 8B-A1B MoE and the VL models run on H100, H200, and B200."' in md
    assert "- **The suite checks:** table-24gb: matrix.yaml gpu_groups.gpus_24gb" in md
    assert "| L4 | table-24gb, sizing-l4-a10g | runs |" in md and "| T4 | prose-t4 | runs |" in md
    assert "<h3>oink-230m: whether VLLM_USE_OINK_OPS=1 is applied to LFM2.5-230M on Blackwell" in page


def test_a_results_file_without_coverage_or_with_a_broken_claims_file_says_so():
    doc = rf.doc()
    older = {k: v for k, v in doc.items() if k != "coverage"}
    assert "No guide coverage in this results file" in signoff.render_markdown(older)
    assert "None recorded." in signoff.render_markdown(older)
    broken = {**doc, "coverage": {"error": "suites/claims.yaml: claims[0]: unknown key 'colour'"}}
    assert "Guide coverage could not be computed: suites/claims.yaml: claims[0]: unknown key" in signoff.render_html(broken)
