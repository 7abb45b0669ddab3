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


@pytest.mark.parametrize("measured, passes", [(0.4435 * 0.93, True), (0.4435 * 0.91, False)])
def test_relative_tolerance_is_one_sided_below_expected(measured, passes):
    run = lambda: gate.meets_baseline("mmlu_pro", "exact_match,custom-extract", measured, 1000, 0.4435, 0.08, 0.10)
    if passes:
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


def test_offline_run_of_a_hub_task_fails_clearly_before_any_server_starts(matrix_data, write_matrix):
    data = copy.deepcopy(matrix_data)
    data["accuracy"]["cpu"]["models"]["LFM2.5-230M"] = [
        {"task": "gsm8k", "metric": "exact_match,strict-match", "expected": 0.5, "rtol": 0.08, "limit": 2,
         "num_fewshot": 0, "chat_template": True, "baseline_source": "model-card"}]
    path = write_matrix(data)
    result = run_pytest("suites/test_accuracy.py", f"--matrix={path}", "-k", "LFM2.5-230M-cpu-gsm8k", "-q", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "lm-eval task 'gsm8k' would need a download (task 'gsm8k' reads dataset 'openai/gsm8k'" in output
    assert "Traceback" not in output and "vLLM servers started" not in output


def test_tasks_follow_the_resolved_target_when_target_is_auto():
    """--target defaults to auto (cpu here): the accuracy suite must parametrize over that target's tasks,
    not find none and skip everything."""
    result = run_pytest("suites/test_accuracy.py", "--collect-only", "-q", timeout=300)
    assert "[LFM2.5-230M-cpu-lfmc_arith_chat]" in result.stdout, result.stdout[-2000:]
