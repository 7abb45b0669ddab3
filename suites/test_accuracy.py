"""Accuracy: lm-eval, through its own OpenAI-compatible backends, against the running server, gated
by the baselines in matrix.yaml `accuracy` (expected x (1 - rtol)). On CPU the fixtures run bundled
tasks they were taught (expected 1.0), which proves the whole path: prompt rendering, chat template,
generation with the model's preset, answer extraction and metric."""
import warnings

import pytest

from lfm_conformance.checks import accuracy as gate
from lfm_conformance.harness import plugin
from lfm_conformance.workloads import accuracy

pytestmark = pytest.mark.accuracy


def pytest_generate_tests(metafunc):
    """Tasks from the matrix, as a parametrize mark: pytest applies it after the plugin's `model`
    parametrization, so ids read like the grid, model first: [LFM2.5-230M-cpu-lfmc_arith_chat]."""
    if "task" in metafunc.fixturenames:
        run = plugin.run_state(metafunc.config)  # the matrix and the resolved target (--target auto)
        tasks = accuracy.task_names(run.matrix, run.target)
        metafunc.definition.add_marker(pytest.mark.parametrize("task", tasks or [None]))


@pytest.fixture
def baseline(model, task, matrix, target) -> accuracy.Baseline:
    """The test's baseline; listed before `server` so that a skip starts no server."""
    if task is None:
        pytest.skip(f"not applicable: matrix.yaml accuracy has no baselines for target {target}")
    found = accuracy.baseline_for(matrix, target, model.name, task)
    if found is None:
        pytest.skip(f"not applicable: matrix.yaml accuracy.{target} has no {task} baseline for {model.name}")
    if found.expected is None:
        pytest.skip(f"pending: no baseline yet ({found.baseline_source}): against a server of the real weights run "
                    f"`{accuracy.record_command(found, model.hf_id, model.preset)}`, then "
                    f"set {found.metric} as expected, baseline_source: reference-run, in matrix.yaml "
                    f"accuracy.{target}.models.{model.name}")
    try:
        accuracy.check_task(found)
    except accuracy.AccuracyError as exc:  # e.g. a download while offline
        pytest.fail(str(exc), pytrace=False)
    return found


def test_accuracy_meets_baseline(baseline, model, server, record_property):
    try:
        measurement = accuracy.measure(
            baseline, base_url=server.url(""), served_model=model.hf_id, preset=model.preset,
            tokenizer=model.hf_id if server.config.target.weights == "hf" else None, api_key=server.api_key)
    except accuracy.AccuracyError as exc:
        pytest.fail(str(exc), pytrace=False)
    measured, samples = gate.metric_value(measurement.results, baseline.task, baseline.metric)
    review = gate.far_above(measured, baseline.expected, baseline.review_margin)
    record_property("figures", {
        "kind": "accuracy", "task": baseline.task, "metric": baseline.metric, "measured": measured,
        "expected": baseline.expected, "rtol": baseline.rtol, "samples": samples,
        "baseline_source": baseline.baseline_source, "review": review})
    gate.meets_baseline(baseline.task, baseline.metric, measured, samples, baseline.expected, baseline.rtol,
                        baseline.review_margin, evidence=gate.misses(measurement.results, baseline.task, baseline.metric))
    if review:
        warnings.warn(f"{model.name} {baseline.task} {baseline.metric}: measured {measured:.4f} is far above the "
                      f"baseline {baseline.expected} (review margin {baseline.review_margin}): review the baseline")
