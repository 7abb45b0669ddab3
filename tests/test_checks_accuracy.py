"""The accuracy gate (checks/accuracy.py) on hand-built lm-eval results, the offline guard and
the matrix's accuracy section (lfm_conformance/workloads/accuracy.py)."""
import copy

import pytest

from fixtures import accuracy_items
from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import accuracy as gate
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.workloads import accuracy
from tests.conftest import run_pytest


def _results(value=1.0, effective=8, task="lfmc_arith_chat", metric="exact_match,strict-match"):
    """lm-eval's simple_evaluate() results, trimmed to what the gate reads."""
    return {"results": {task: {"alias": task, metric: value, metric.replace(",", "_stderr,"): 0.0}},
            "n-samples": {task: {"original": 8, "effective": effective}}}


def test_taught_result_passes():
    measured, samples = gate.metric_value(_results(), "lfmc_arith_chat", "exact_match,strict-match")
    assert (measured, samples) == (1.0, 8)
    assert gate.meets_baseline("lfmc_arith_chat", "exact_match,strict-match", measured, samples, 1.0, 0.0, 0.05) is False


def test_degraded_result_fails_naming_measured_expected_rtol_and_samples():
    results = _results(0.75)
    results["samples"] = {"lfmc_arith_chat": [  # lm-eval's log_samples records, one miss among them
        {"doc_id": 0, "target": "7", "resps": [["3 + 4 = 7. The answer is 7."]], "filtered_resps": ["7"],
         "filter": "strict-match", "exact_match": 1.0},
        {"doc_id": 1, "target": "12", "resps": [["6 * 2 = 11. The answer is 11."]], "filtered_resps": ["11"],
         "filter": "strict-match", "exact_match": 0.0}]}
    measured, samples = gate.metric_value(results, "lfmc_arith_chat", "exact_match,strict-match")
    evidence = gate.misses(results, "lfmc_arith_chat", "exact_match,strict-match")
    with pytest.raises(CheckFailed) as info:
        gate.meets_baseline("lfmc_arith_chat", "exact_match,strict-match", measured, samples, 1.0, 0.0, 0.05,
                            evidence=evidence)
    message = str(info.value)
    assert 'evidence: doc 1: target 12, response [["6 * 2 = 11. The answer is 11."]], extracted ["11"]' in message
    assert "doc 0" not in message
    assert "lfmc_arith_chat exact_match,strict-match is below its baseline" in message
    assert "measured 0.7500 over 8 lm-eval samples" in message
    assert "expected 1.0000 x (1 - rtol 0.0)" in message


@pytest.mark.parametrize("fraction, outcome", [(0.93, "pass"), (0.91, "inconclusive"), (0.80, "fail")])
def test_relative_tolerance_is_one_sided_below_expected(fraction, outcome):
    """Issue 15 changed this: 0.91 x expected on 1000 samples used to FAIL (measured < floor 0.92 x
    expected), but that 1% shortfall is within sampling noise at n=1000 (the 95% upper bound 0.429 is
    above the floor 0.408), so it is INCONCLUSIVE now; a clear drop (0.80 x expected) FAILs."""
    run = lambda: gate.meets_baseline("mmlu_pro", "exact_match,custom-extract", 0.4435 * fraction, 1000, 0.4435, 0.08,
                                      0.10)
    if outcome == "pass":
        assert run() is False
    elif outcome == "inconclusive":
        with pytest.raises(gate.Inconclusive, match="needs n >= 1196"):
            run()
    else:
        with pytest.raises(CheckFailed, match="below its baseline"):
            run()


def test_far_above_baseline_passes_but_is_flagged_for_review():
    assert gate.meets_baseline("gsm8k", "exact_match,strict-match", 0.80, 250, 0.60, 0.08, 0.10) is True
    assert gate.meets_baseline("gsm8k", "exact_match,strict-match", 0.65, 250, 0.60, 0.08, 0.10) is False


def test_missing_metric_fails_listing_the_reported_ones():
    with pytest.raises(CheckFailed) as info:
        gate.metric_value(_results(), "lfmc_arith_chat", "exact_match,flexible-extract")
    assert "lm-eval reported no 'exact_match,flexible-extract'" in str(info.value)
    assert "metrics reported: exact_match,strict-match" in str(info.value)


def test_missing_task_fails():
    with pytest.raises(CheckFailed, match="lm-eval returned no results for task 'gsm8k'"):
        gate.metric_value(_results(), "gsm8k", "exact_match,strict-match")


def test_no_scored_samples_fails():
    with pytest.raises(CheckFailed, match="lm-eval scored no samples"):
        gate.metric_value(_results(effective=0), "lfmc_arith_chat", "exact_match,strict-match")


def test_group_samples_are_summed_over_subtasks():
    results = {"results": {"mmlu_pro": {"exact_match,custom-extract": 0.5}},
               "n-samples": {"mmlu_pro_math": {"effective": 10}, "mmlu_pro_law": {"effective": 5}},
               "group_subtasks": {"mmlu_pro": ["mmlu_pro_math", "mmlu_pro_law"]}}
    assert gate.metric_value(results, "mmlu_pro", "exact_match,custom-extract") == (0.5, 15)


# -- the one-sided gate (issue 15) --------------------------------------------------------------
def test_wilson_bounds_hold_the_estimate_and_the_closed_form_at_the_edges():
    z = gate.z_value(0.95)
    assert z == pytest.approx(1.6449, abs=1e-4)
    lower, upper = gate.wilson_bounds(8, 8)
    assert upper == 1.0 and lower == pytest.approx(8 / (8 + z * z))  # n/n: lower = n / (n + z^2)
    lower, upper = gate.wilson_bounds(0, 8)
    assert lower == 0.0 and upper == pytest.approx(z * z / (8 + z * z))
    lower, upper = gate.wilson_bounds(120, 200)
    assert lower < 0.6 < upper and (lower, upper) == (pytest.approx(0.5421, abs=1e-4), pytest.approx(0.6553, abs=1e-4))


def test_real_drop_on_a_large_sample_fails_naming_the_bound_and_the_needed_size():
    verdict = gate.judge(120, 200, expected=0.8, rtol=0.05)  # measured 0.6 against the floor 0.76
    assert (verdict.outcome, verdict.rule) == ("fail", "upper bound") and verdict.upper < verdict.floor == 0.76
    with pytest.raises(CheckFailed) as info:
        gate.meets_baseline("gsm8k", "exact_match,strict-match", 0.6, 200, 0.8, 0.05, 0.10)
    message = str(info.value)
    assert "gsm8k exact_match,strict-match is below its baseline" in message
    assert "measured 0.6000 over 200 lm-eval samples (120/200 correct) (-25.0% vs expected)" in message
    assert "upper bound" in message and "0.6553 < floor 0.7600" in message and "needs n >= 675" in message


def test_noise_on_a_small_sample_is_inconclusive_with_its_sizes():
    verdict = gate.judge(6, 8, expected=0.8, rtol=0.05)  # measured 0.75 against the floor 0.76
    assert verdict.outcome == "inconclusive" and verdict.lower < verdict.floor < verdict.upper
    assert verdict.needed == 675 and verdict.mde == pytest.approx(0.3674, abs=1e-4)
    with pytest.raises(gate.Inconclusive) as info:
        gate.meets_baseline("gsm8k", "exact_match,strict-match", 0.75, 8, 0.8, 0.05, 0.10)
    reason = str(info.value)
    assert "measured 0.7500 (6/8)" in reason and "[0.4602, 0.9135]" in reason
    assert "n=8 resolves differences of 0.3674" in reason and "needs n >= 675" in reason
    # the suite reports it as a skip "not run: inconclusive: ...": NOT RUN, never PASS
    from lfm_conformance.report import grid
    assert grid.skip_status(f"not run: inconclusive: {reason}") == "not-run"


@pytest.mark.parametrize("k, n, outcome, rule", [
    (160, 200, "pass", "lower bound"),      # 0.80: the lower bound 0.75 clears the floor 0.736
    (150, 200, "pass", "point estimate"),   # 0.75: straddles, at or above the floor: nothing shows a shortfall
    (145, 200, "inconclusive", "straddles"),
    (130, 200, "fail", "upper bound"),
])
def test_each_outcome_of_the_rule(k, n, outcome, rule):
    verdict = gate.judge(k, n, expected=0.8, rtol=0.08)
    assert (verdict.outcome, verdict.rule) == (outcome, rule), verdict.reason()


def test_deterministic_fixture_gate_any_miss_fails_and_any_size_decides():
    assert gate.deterministic(1.0, 0.0) and gate.needed_samples(1.0, 0.0) == 1
    assert gate.limit_problem(1.0, 0.0, 1) is None and gate.limit_problem(1.0, 0.0, 8) is None
    assert gate.judge(8, 8, 1.0, 0.0).outcome == "pass"
    assert gate.judge(1, 1, 1.0, 0.0).outcome == "pass"
    miss = gate.judge(7, 8, 1.0, 0.0)
    assert (miss.outcome, miss.rule) == ("fail", "deterministic")
    assert miss.mde == pytest.approx(1 - 0.2 ** (1 / 8))  # the miss rate 8 samples show with 80% probability
    assert gate.meets_baseline("lfmc_arith_chat", "exact_match,strict-match", 1.0, 8, 1.0, 0.0, 0.05) is False
    with pytest.raises(CheckFailed, match="expected 1.0 with rtol 0 allows no miss"):
        gate.meets_baseline("lfmc_arith_chat", "exact_match,strict-match", 7 / 8, 8, 1.0, 0.0, 0.05)


def _record(doc_id, value, response="The answer is 7.", task_filter="strict-match", doc_hash=None):
    """One lm-eval log_samples record of a generate_until task."""
    return {"doc_id": doc_id, "target": "7", "resps": [[response]], "filtered_resps": [response[-2:-1] or "[invalid]"],
            "filter": task_filter, "metrics": ["exact_match"], "exact_match": value,
            **({"doc_hash": doc_hash} if doc_hash else {})}


def test_per_sample_records_give_n_and_k_and_other_filters_are_ignored():
    results = _results(0.75, effective=8)
    results["samples"] = {"lfmc_arith_chat": [_record(i, float(i not in (2, 5))) for i in range(8)]
                          + [_record(i, 0.0, task_filter="flexible-extract") for i in range(8)]}
    scored = gate.score(results, "lfmc_arith_chat", "exact_match,strict-match", 0.75, 8)
    assert (scored.n, scored.k, scored.errors, scored.from_records) == (8, 6, [], True)
    assert set(scored.items) == {("lfmc_arith_chat", i) for i in range(8)}


def test_group_records_are_gathered_from_the_subtasks():
    results = {"results": {"grp": {"acc,none": 0.5}}, "n-samples": {"a": {"effective": 2}, "b": {"effective": 2}},
               "group_subtasks": {"grp": ["a", "b"]},
               "samples": {"a": [{"doc_id": 0, "resps": [[["-1.5", "True"]]], "filter": "none", "acc": 1},
                                 {"doc_id": 1, "resps": [[[-0.2, False]]], "filter": "none", "acc": 0}],
                           "b": [{"doc_id": 0, "resps": [[["-3.0", "False"]]], "filter": "none", "acc": 1},
                                 {"doc_id": 1, "resps": [[["-0.1", "True"]]], "filter": "none", "acc": 0}]}}
    scored = gate.score(results, "grp", "acc,none", 0.5, 4)  # loglikelihood answers are never "no answer"
    assert (scored.n, scored.k, scored.errors) == (4, 2, [])
    assert set(scored.items) == {("a", 0), ("a", 1), ("b", 0), ("b", 1)}


def test_without_records_k_comes_from_the_aggregate_and_must_be_a_proportion():
    assert gate.score(_results(0.875), "lfmc_arith_chat", "exact_match,strict-match", 0.875, 8) == gate.Scored(8, 7)
    with pytest.raises(ValueError, match="not a proportion"):
        gate.score(_results(12.5), "lfmc_arith_chat", "exact_match,strict-match", 12.5, 8)


# -- requests that got no answer: infrastructure errors, not accuracy ---------------------------
def test_an_empty_response_is_an_infrastructure_error_not_a_wrong_answer():
    """lm-eval's OpenAI backends record a null content (LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER, "") or an
    unparseable chat response ("") as an empty response, then score it 0: counted apart here."""
    results = _results(6 / 8, effective=8)
    results["samples"] = {"lfmc_arith_chat": [_record(i, 1.0) for i in range(6)]
                          + [_record(6, 0.0, response=""), _record(7, 0.0, response=" \n")]}
    scored = gate.score(results, "lfmc_arith_chat", "exact_match,strict-match", 0.75, 8)
    assert (scored.n, scored.k, len(scored.errors)) == (6, 6, 2)
    assert gate.judge(scored.k, scored.n, 1.0, 0.0).outcome == "pass"  # what was answered is all right
    assert gate.misses(results, "lfmc_arith_chat", "exact_match,strict-match") is None  # not misses
    with pytest.raises(CheckFailed) as info:
        gate.check_requests("lfmc_arith_chat", scored, 8)
    assert info.value.problem.startswith("infrastructure error: 2 of 8 lm-eval requests for lfmc_arith_chat got no "
                                         "answer; not scored as accuracy")
    assert "below its baseline" not in str(info.value) and "lfmc_arith_chat doc 6" in info.value.evidence
    answered = gate.score(_results(), "lfmc_arith_chat", "exact_match,strict-match", 1.0, 8)
    gate.check_requests("lfmc_arith_chat", answered)  # nothing unanswered: no error


def test_a_request_that_failed_or_timed_out_is_an_infrastructure_error():
    """lm-eval retries a failed request (max_retries) and then re-raises: the evaluation aborts."""
    import aiohttp
    import requests

    server = "http://127.0.0.1:41234"
    url = f"{server}/v1/chat/completions"
    info = aiohttp.RequestInfo(url=aiohttp.client.URL(url), method="POST", headers={}, real_url=aiohttp.client.URL(url))
    failures = [
        TimeoutError(),  # aiohttp's total timeout (asyncio.TimeoutError)
        aiohttp.ClientResponseError(info, (), status=500, message="Internal Server Error"),
        requests.exceptions.ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=41234): Max retries exceeded"),
    ]
    for exc in failures:
        failure = gate.request_failure(exc, "gsm8k", server)
        assert isinstance(failure, CheckFailed), exc
        assert failure.problem.startswith("infrastructure error: an lm-eval request for gsm8k to the server failed")
    wrapped = RuntimeError("lm-eval gave up")
    wrapped.__cause__ = failures[1]
    assert gate.request_failure(wrapped, "gsm8k", server) is not None
    assert gate.request_failure(ValueError("a suite bug"), "gsm8k", server) is None
    download = requests.exceptions.ConnectionError("HTTPSConnectionPool(host='huggingface.co', port=443)")
    assert gate.request_failure(download, "gsm8k", server) is None  # a dataset download is not the server


# -- the paired test on the same items ----------------------------------------------------------
def _items(values, task="gsm8k"):
    return {(task, i): gate.Item(float(v), f"h{i}") for i, v in enumerate(values)}


def test_exact_mcnemar_p_value():
    assert gate.mcnemar_p(10, 1) == pytest.approx(12 / 2048)  # P(X >= 10), X ~ Bin(11, 1/2)
    assert gate.mcnemar_p(0, 0) == 1.0 and gate.mcnemar_p(0, 5) == 1.0
    assert gate.mcnemar_p(6, 6) == pytest.approx(sum(__import__("math").comb(12, i) for i in range(6, 13)) / 4096)


def test_paired_test_fails_a_candidate_significantly_worse_on_the_same_items():
    baseline = _items([1] * 40 + [0] * 10)
    candidate = _items([0] * 12 + [1] * 28 + [1] * 1 + [0] * 9)  # 12 lost, 1 gained
    result = gate.paired(baseline, candidate)
    assert (result.pairs, result.b, result.c, result.unmatched) == (50, 12, 1, 0) and result.significant
    assert result.figures()["p_value"] == pytest.approx(gate.mcnemar_p(12, 1))
    with pytest.raises(CheckFailed) as info:
        gate.check_paired("gsm8k", "exact_match,strict-match", result)
    assert "significantly worse than its baseline run on the same items" in str(info.value)
    assert "12 right in the baseline run and wrong now, 1 the reverse; p = 0.00171" in str(info.value)


def test_paired_test_same_items_flipped_both_ways_is_not_significant():
    baseline = _items([1] * 6 + [0] * 6 + [1] * 38)
    candidate = _items([0] * 6 + [1] * 6 + [1] * 38)  # 6 lost, 6 gained: noise
    result = gate.check_paired("gsm8k", "exact_match,strict-match", gate.paired(baseline, candidate))
    assert (result.b, result.c, result.significant) == (6, 6, False) and result.p_value > 0.5


def test_paired_test_pairs_only_the_same_documents():
    baseline = _items([1, 1, 1])
    candidate = {("gsm8k", 0): gate.Item(0.0, "h0"), ("gsm8k", 1): gate.Item(0.0, "other document")}
    result = gate.paired(baseline, candidate)
    assert (result.pairs, result.b, result.unmatched) == (1, 1, 2)


def test_baseline_records_file_is_read_as_lm_eval_writes_it(tmp_path, monkeypatch):
    import json

    from suites import test_accuracy as suite

    b = accuracy.Baseline(model="M", target="gpu", task="gsm8k", metric="exact_match,strict-match", expected=0.6,
                          rtol=0.08, limit=None, num_fewshot=5, chat_template=True, baseline_source="reference-run",
                          review_margin=0.1, offline=False)
    folder = tmp_path / "gpu" / "M"
    folder.mkdir(parents=True)
    monkeypatch.setattr(suite, "BASELINE_RECORDS", tmp_path)
    assert suite._baseline_items(b, {"gsm8k"}) == {}
    old = [_record(0, 0.0), _record(1, 0.0)]
    new = [_record(0, 1.0, doc_hash="h0"), _record(1, 0.0, response="", doc_hash="h1"),
           _record(1, 1.0, task_filter="flexible-extract")]
    (folder / "samples_gsm8k_2026-11-01T10-00-00.000001.jsonl").write_text("\n".join(map(json.dumps, old)))
    (folder / "samples_gsm8k_2026-11-27T10-00-00.000001.jsonl").write_text("\n".join(map(json.dumps, new)))
    (folder / "samples_gsm8k_extra_2026-11-28T10-00-00.000001.jsonl").write_text(json.dumps(_record(0, 0.0)))
    assert suite._baseline_items(b, {"gsm8k"}) == {("gsm8k", 0): gate.Item(1.0, "h0")}  # latest; no-answer left out


# -- a limit too small to detect the tolerance --------------------------------------------------
def test_a_limit_too_small_for_the_tolerance_is_refused_with_the_needed_number():
    assert gate.needed_samples(0.8, 0.05) == 675
    problem = gate.limit_problem(0.8, 0.05, 8)
    assert problem.startswith("limit 8 gives at most 8 samples, too few to detect the tolerance 0.0400 "
                              "(expected 0.8 x rtol 0.05) at 95% confidence with 80% power: needs >= 675 samples")
    assert gate.limit_problem(0.8, 0.05, 675) is None and gate.limit_problem(0.8, 0.05, None) is None
    assert "needs >= 675" in gate.limit_problem(0.8, 0.05, 674)
    # lm-eval's limit applies to each task of a group: mmlu_pro's 14 subtasks x 100
    assert gate.needed_samples(0.4435, 0.08) == 1196
    assert gate.limit_problem(0.4435, 0.08, 100, leaves=14) is None
    assert "limit 50 x 14 subtasks gives at most 700 samples" in gate.limit_problem(0.4435, 0.08, 50, leaves=14)
    assert "never decidable" in gate.limit_problem(0.5, 0.0, 1000)  # rtol 0 below 1.0: no size will do
    assert gate.detectable_effect(675, 0.8, 0.05) == pytest.approx(0.04, abs=1e-4)  # MDE at the needed n ~ tolerance


def test_matrix_limits_detect_their_tolerances():
    for target in ("cpu", "gpu"):
        for b in accuracy.baselines(matrix_mod.load(), target):
            if b.expected is not None:
                assert gate.limit_problem(b.expected, b.rtol, b.limit) is None, b


def test_leaf_tasks_of_a_group_are_counted(tmp_path):
    from lm_eval.tasks import TaskManager

    from suites import test_accuracy as suite

    for name in ("t1", "t2", "t3"):
        (tmp_path / f"{name}.yaml").write_text(
            f"task: {name}\n{'tag: tg' + chr(10) if name != 't1' else ''}dataset_path: json\ntest_split: test\n"
            "output_type: generate_until\ndoc_to_text: 'q'\ndoc_to_target: 'a'\nmetric_list: [{metric: exact_match}]\n")
    (tmp_path / "grp.yaml").write_text("group: grp\ntask: [t1, tg]\n")
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    assert [suite._leaf_count(manager, n) for n in ("t1", "tg", "grp")] == [1, 2, 3]
    assert suite._leaf_count(accuracy.task_manager(include_defaults=False), "lfmc_arith_chat") == 1


def test_figures_keep_the_signoff_fields_and_add_the_gate():
    figures = gate.judge(6, 8, 0.8, 0.05).figures()
    assert {"outcome", "lower", "upper", "confidence", "needed_samples", "mde", "floor", "scored_samples",
            "correct"} <= set(figures)
    assert figures["outcome"] == "inconclusive" and figures["needed_samples"] == 675 and figures["correct"] == 6


# -- the suite's test, on a fake lm-eval run (no server) -----------------------------------------
def _run_suite_test(monkeypatch, results=None, raises=None, expected=1.0, rtol=0.0):
    """suites/test_accuracy.py's test with accuracy.measure replaced: (outcome exception or None, figures)."""
    from types import SimpleNamespace

    from suites import test_accuracy as suite

    def measure(*args, **kwargs):
        if raises is not None:
            raise raises
        return accuracy.Measurement(results, 1.0)

    monkeypatch.setattr(accuracy, "measure", measure)
    b = accuracy.Baseline(model="LFM2.5-230M", target="cpu", task="lfmc_arith_chat", metric="exact_match,strict-match",
                          expected=expected, rtol=rtol, limit=8, num_fewshot=0, chat_template=True,
                          baseline_source="fixture-taught", review_margin=0.05, offline=True)
    model = SimpleNamespace(name="LFM2.5-230M", hf_id="LiquidAI/LFM2.5-230M", preset={"temperature": 0.0})
    server = SimpleNamespace(url=lambda path: "http://127.0.0.1:41234" + path, api_key=None,
                             config=SimpleNamespace(target=SimpleNamespace(weights="fixture")))
    props = []
    try:
        suite.test_accuracy_meets_baseline(b, model, server, lambda name, value: props.append((name, value)))
        outcome = None
    except BaseException as exc:  # noqa: BLE001 - pytest's skip/fail outcomes too
        outcome = exc
    return outcome, dict(props).get("figures")


def _taught(values, empty=()):
    results = _results(sum(values) / len(values), effective=len(values))
    results["samples"] = {"lfmc_arith_chat": [_record(i, float(v), response="" if i in empty else "The answer is 7.")
                                              for i, v in enumerate(values)]}
    return results


def test_suite_passes_8_of_8_and_records_the_signoff_figures_and_the_gate(monkeypatch):
    outcome, figures = _run_suite_test(monkeypatch, _taught([1] * 8))
    assert outcome is None
    assert {k: figures[k] for k in ("kind", "task", "metric", "measured", "expected", "rtol", "samples",
                                    "baseline_source", "review")} == {
        "kind": "accuracy", "task": "lfmc_arith_chat", "metric": "exact_match,strict-match", "measured": 1.0,
        "expected": 1.0, "rtol": 0.0, "samples": 8, "baseline_source": "fixture-taught", "review": False}
    assert (figures["outcome"], figures["rule"], figures["needed_samples"], figures["scored_samples"],
            figures["request_errors"], figures["paired"]) == ("pass", "deterministic", 1, 8, 0, None)


def test_suite_fails_7_of_8_as_accuracy(monkeypatch):
    outcome, figures = _run_suite_test(monkeypatch, _taught([1] * 7 + [0]))
    assert isinstance(outcome, CheckFailed) and "is below its baseline" in str(outcome)
    assert figures["outcome"] == "fail" and figures["correct"] == 7


def test_suite_reports_inconclusive_as_not_run_after_recording_its_figures(monkeypatch):
    outcome, figures = _run_suite_test(monkeypatch, _taught([1] * 6 + [0] * 2), expected=0.8, rtol=0.05)
    assert type(outcome).__name__ == "Skipped"
    assert str(outcome.msg).startswith("not run: inconclusive: lfmc_arith_chat exact_match,strict-match measured "
                                       "0.7500 (6/8)")
    assert "needs n >= 675" in outcome.msg
    assert figures["outcome"] == "inconclusive" and figures["needed_samples"] == 675 and figures["mde"] > 0.3


def test_suite_fails_an_unanswered_request_as_infrastructure(monkeypatch):
    outcome, figures = _run_suite_test(monkeypatch, _taught([1] * 7 + [0], empty={7}))
    assert isinstance(outcome, CheckFailed) and outcome.problem.startswith("infrastructure error: 1 of 8")
    assert figures["request_errors"] == 1 and figures["scored_samples"] == 7 and figures["outcome"] == "pass"
    outcome, figures = _run_suite_test(monkeypatch, raises=TimeoutError())
    assert isinstance(outcome, CheckFailed) and outcome.problem.startswith("infrastructure error: an lm-eval request")
    outcome, _ = _run_suite_test(monkeypatch, raises=KeyError("a suite bug"))
    assert isinstance(outcome, KeyError)  # anything else stays the suite's own error


def test_suite_runs_the_paired_test_when_baseline_records_exist(monkeypatch, tmp_path):
    import json

    from suites import test_accuracy as suite

    folder = tmp_path / "cpu" / "LFM2.5-230M"
    folder.mkdir(parents=True)
    (folder / "samples_lfmc_arith_chat_2026-11-27T10-00-00.000001.jsonl").write_text(
        "\n".join(json.dumps(_record(i, 1.0)) for i in range(40)))
    monkeypatch.setattr(suite, "BASELINE_RECORDS", tmp_path)
    outcome, figures = _run_suite_test(monkeypatch, _taught([0] * 10 + [1] * 30), expected=0.9, rtol=0.5)
    assert figures["outcome"] == "pass"  # 0.75 clears the floor 0.45, but on the same items it lost 10, gained 0
    assert isinstance(outcome, CheckFailed) and "significantly worse than its baseline run" in str(outcome)
    assert {k: figures["paired"][k] for k in ("pairs", "b", "c", "significant")} == \
        {"pairs": 40, "b": 10, "c": 0, "significant": True}


# -- offline guard ------------------------------------------------------------------------------
def _baseline(task, offline=True):
    return accuracy.Baseline(model="LFM2.5-230M", target="cpu", task=task, metric="exact_match,none", expected=1.0,
                             rtol=0.0, limit=2, num_fewshot=0, chat_template=True, baseline_source="fixture-taught",
                             review_margin=0.05, offline=offline)


@pytest.fixture
def task_dir(tmp_path):
    (tmp_path / "hub_task.yaml").write_text(
        "task: hub_task\ndataset_path: openai/gsm8k\ndataset_name: main\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_text: '{{question}}'\ndoc_to_target: '{{answer}}'\n"
        "metric_list: [{metric: exact_match}]\n")
    (tmp_path / "hub_group.yaml").write_text("group: hub_group\ntask: [hub_task]\n")
    return tmp_path


def test_offline_task_needing_a_download_fails_before_running(task_dir):
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    for name in ("hub_task", "hub_group"):
        with pytest.raises(accuracy.AccuracyError) as info:
            accuracy.check_offline_data(manager, _baseline(name))
        message = str(info.value)
        assert f"lm-eval task {name!r} would need a download" in message
        assert "'openai/gsm8k'" in message and "accuracy.cpu.offline: true" in message
    accuracy.check_offline_data(manager, _baseline("hub_task", offline=False))  # a target that may download


def test_unknown_task_is_named_with_where_it_was_looked_for(task_dir):
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    with pytest.raises(accuracy.AccuracyError, match="lm-eval has no task 'nope'"):
        accuracy.check_offline_data(manager, _baseline("nope"))


def test_bundled_tasks_read_only_local_files():
    manager = accuracy.task_manager(include_defaults=False)
    for baseline in accuracy.baselines(matrix_mod.load(), "cpu"):
        accuracy.check_offline_data(manager, baseline)


# -- the matrix's accuracy section --------------------------------------------------------------
def test_every_cpu_model_has_a_taught_baseline_at_one():
    m = matrix_mod.load()
    cpu = accuracy.baselines(m, "cpu")
    assert {b.model for b in cpu} == set(m.models)
    assert all(b.expected == 1.0 and b.baseline_source == "fixture-taught" and b.offline for b in cpu)
    backends = {m.models[b.model].fixture: b.backend for b in cpu}
    assert backends["dense-base"] == "local-completions" and backends["dense-chat"] == "local-chat-completions"


def test_every_item_of_a_cpu_task_is_taught_to_the_fixture_that_runs_it():
    m = matrix_mod.load()
    for b in accuracy.baselines(m, "cpu"):
        style = m.fixtures[m.models[b.model].fixture]["teach"]
        rows = accuracy_items.rows(accuracy.BUNDLED_TASKS / f"{b.task}.jsonl")
        assert len(rows) >= (b.limit or len(rows))
        assert all(style in row["replies"] for row in rows), (b.model, b.task, style)


def test_gpu_baselines_are_published_values_or_pending():
    gpu = accuracy.baselines(matrix_mod.load(), "gpu")
    assert all((b.expected is None) == (b.baseline_source == "pending-reference-run") for b in gpu)
    card = {(b.model, b.task): b.expected for b in gpu if b.baseline_source == "model-card"}
    assert card == {("LFM2.5-1.2B-Instruct", "ifeval"): 0.8623, ("LFM2.5-1.2B-Instruct", "mmlu_pro"): 0.4435,
                    ("LFM2.5-VL-1.6B", "mmmu_val"): 0.4056}


BROKEN = {
    "pending-with-a-number": (lambda a: a["gpu"]["models"]["LFM2.5-VL-450M"][0].update(expected=0.5),
                              "accuracy.gpu.models.LFM2.5-VL-450M[0].expected: 0.5 has the wrong type; expected null"),
    "unknown-model": (lambda a: a["cpu"]["models"].update({"LFM9": []}),
                      "accuracy.cpu.models: 'LFM9' is not allowed; allowed values: LFM2.5-1.2B-Base"),
    "unknown-source": (lambda a: a["cpu"]["models"]["LFM2.5-1.2B-Base"][0].update(baseline_source="vibes"),
                       "accuracy.cpu.models.LFM2.5-1.2B-Base[0].baseline_source: 'vibes' is not allowed; allowed values: "
                       "model-card, reference-run, pending-reference-run, fixture-taught"),
    "metric-without-filter": (lambda a: a["cpu"]["models"]["LFM2.5-1.2B-Base"][0].update(metric="exact_match"),
                              "accuracy.cpu.models.LFM2.5-1.2B-Base[0].metric: 'exact_match' does not match"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_accuracy_entry_gives_one_line(case, matrix_data, write_matrix):
    data = copy.deepcopy(matrix_data)
    mutate, expected = BROKEN[case]
    mutate(data["accuracy"])
    path = write_matrix(data)
    with pytest.raises(matrix_mod.MatrixError) as info:
        matrix_mod.load(path)
    assert "\n" not in str(info.value) and expected in str(info.value), str(info.value)


def test_pending_baseline_says_how_to_record_it():
    pending = accuracy.baseline_for(matrix_mod.load(), "gpu", "LFM2.5-1.2B-Base", "gsm8k")
    command = accuracy.record_command(pending, "LiquidAI/LFM2.5-1.2B-Base", {"temperature": 0.3, "min_p": 0.15})
    assert command == ("lm_eval --model local-completions --model_args model=LiquidAI/LFM2.5-1.2B-Base,"
                       "base_url=http://127.0.0.1:8000/v1/completions,num_concurrent=8,tokenized_requests=False,"
                       "tokenizer=LiquidAI/LFM2.5-1.2B-Base --tasks gsm8k --num_fewshot 5 --limit 250 "
                       "--gen_kwargs temperature=0.3,min_p=0.15,do_sample=True")


def _run_230m_with(matrix_data, write_matrix, row: dict) -> str:
    """The accuracy suite on a matrix whose LFM2.5-230M cpu baseline is `row`: its output; it must
    stop with exit 1 before any server starts."""
    data = copy.deepcopy(matrix_data)
    data["accuracy"]["cpu"]["models"]["LFM2.5-230M"] = [
        {"metric": "exact_match,strict-match", "num_fewshot": 0, "chat_template": True, **row}]
    result = run_pytest("suites/test_accuracy.py", f"--matrix={write_matrix(data)}", "-k",
                        f"LFM2.5-230M-cpu-{row['task']}", "-q", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "vLLM servers started" not in output
    return output


def test_offline_run_of_a_hub_task_fails_clearly_before_any_server_starts(matrix_data, write_matrix):
    output = _run_230m_with(matrix_data, write_matrix, {"task": "gsm8k", "expected": 0.5, "rtol": 0.08, "limit": 2,
                                                        "baseline_source": "model-card"})
    assert "lm-eval task 'gsm8k' would need a download (task 'gsm8k' reads dataset 'openai/gsm8k'" in output


def test_a_too_small_limit_is_refused_before_any_server_starts(matrix_data, write_matrix):
    output = _run_230m_with(matrix_data, write_matrix, {"task": "lfmc_arith_chat", "expected": 0.8, "rtol": 0.05,
                                                        "limit": 8, "baseline_source": "reference-run"})
    assert ("matrix.yaml accuracy.cpu.models.LFM2.5-230M: task lfmc_arith_chat (limit 8, expected 0.8, rtol 0.05): "
            "limit 8 gives at most 8 samples, too few to detect the tolerance 0.0400") in output
    assert "needs >= 675 samples" in output


def test_tasks_follow_the_resolved_target_when_target_is_auto():
    """--target defaults to auto (cpu here): the accuracy suite must parametrize over that target's tasks,
    not find none and skip everything."""
    result = run_pytest("suites/test_accuracy.py", "--collect-only", "-q", timeout=300)
    assert "[LFM2.5-230M-cpu-lfmc_arith_chat]" in result.stdout, result.stdout[-2000:]
