"""Accuracy: lm-eval, through its own OpenAI-compatible backends, against the running server, gated
by the baselines in matrix.yaml `accuracy` with a one-sided test against the floor
expected x (1 - rtol) (lfm_conformance/checks/accuracy.py): FAIL when the data shows the accuracy is
below it, PASS when it shows nothing of the kind, `not run: inconclusive` when the sample is too small
to tell. Requests that got no answer fail as infrastructure errors, never as wrong answers. When the
baseline run's per-item records are kept (BASELINE_RECORDS), the same items are compared paired
(exact McNemar). On CPU the fixtures run bundled tasks they were taught (expected 1.0, rtol 0: any
miss fails), which proves the whole path: prompt rendering, chat template, generation with the
model's preset, answer extraction and metric."""
import json
import re
import warnings
from pathlib import Path

import pytest

from lfm_conformance.checks import accuracy as gate
from lfm_conformance.data.matrix import local_weights
from lfm_conformance.harness import plugin
from lfm_conformance.workloads import accuracy

pytestmark = pytest.mark.accuracy

# A baseline run's per-item records (lm-eval --log_samples --output_path): its samples_<task>_<date>.jsonl
# files (one per leaf task of a group; or <task>.jsonl) under BASELINE_RECORDS/<target>/<model>/.
BASELINE_RECORDS = Path(__file__).resolve().parent / "accuracy_baselines"


def pytest_generate_tests(metafunc):
    """Tasks from the matrix, as a parametrize mark: pytest applies it after the plugin's `model`
    parametrization, so ids read like the grid, model first: [LFM2.5-230M-cpu-lfmc_arith_chat]."""
    if "task" in metafunc.fixturenames:
        run = plugin.run_state(metafunc.config)  # the matrix and the resolved target (--target auto)
        tasks = accuracy.task_names(run.matrix, run.target)
        metafunc.definition.add_marker(pytest.mark.parametrize("task", tasks or [None]))


@pytest.fixture
def baseline(model, task, matrix, target) -> accuracy.Baseline:
    """The test's baseline; listed before `server` so that a skip or a refusal starts no server."""
    if task is None:
        pytest.skip(f"not applicable: matrix.yaml accuracy has no baselines for target {target}")
    found = accuracy.baseline_for(matrix, target, model.name, task)
    if found is None:
        pytest.skip(f"not applicable: matrix.yaml accuracy.{target} has no {task} baseline for {model.name}")
    if found.expected is None:
        records = BASELINE_RECORDS / target / model.name
        pytest.skip(f"pending: no baseline yet ({found.baseline_source}): against a server of the real weights run "
                    f"`{accuracy.record_command(found, model.hf_id, model.preset)} --log_samples --output_path DIR`, "
                    f"then set {found.metric} as expected, baseline_source: reference-run, in matrix.yaml "
                    f"accuracy.{target}.models.{model.name}, and keep its per-item records "
                    f"(DIR/*/samples_*.jsonl) in {records} for the paired test")
    try:
        manager = accuracy.check_task(found)
    except accuracy.AccuracyError as exc:  # e.g. a download while offline
        pytest.fail(str(exc), pytrace=False)
    problem = gate.limit_problem(found.expected, found.rtol, found.limit, _leaf_count(manager, found.task))
    if problem:  # a sample that cannot detect the tolerance: refused before any server starts
        pytest.fail(f"matrix.yaml accuracy.{target}.models.{model.name}: task {found.task} (limit {found.limit}, "
                    f"expected {found.expected}, rtol {found.rtol}): {problem}", pytrace=False)
    return found


def test_accuracy_meets_baseline(baseline, model, server, record_property):
    # A tokenizer only where lm-eval tokenizes (local-completions; as record_command records the baseline):
    # for real weights, the snapshot the target's servers read (its hub cache), not a hub id to resolve here.
    tokenizer = None
    if server.config.target.weights == "hf" and not baseline.chat_template:
        tokenizer = local_weights(server.config)
    try:
        measurement = accuracy.measure(
            baseline, base_url=server.url(""), served_model=model.hf_id, preset=model.preset,
            tokenizer=tokenizer, api_key=server.api_key)
    except accuracy.AccuracyError:
        raise  # the suite cannot run the baseline as configured: its own ERROR, not a verdict on the server
    except Exception as exc:  # lm-eval re-raises a request that failed or timed out after its retries
        failure = gate.request_failure(exc, baseline.task, server.url(""))
        if failure is None:
            raise
        raise failure from exc
    results = measurement.results
    measured, samples = gate.metric_value(results, baseline.task, baseline.metric)
    scored = gate.score(results, baseline.task, baseline.metric, measured, samples)
    verdict = gate.judge(scored.k, scored.n, baseline.expected, baseline.rtol)
    reference = _baseline_items(baseline, {leaf for leaf, _ in scored.items} | {e[0] for e in scored.errors})
    paired = gate.paired(reference, scored.items) if reference else None
    review = gate.far_above(measured, baseline.expected, baseline.review_margin)
    record_property("figures", {
        "kind": "accuracy", "task": baseline.task, "metric": baseline.metric, "measured": measured,
        "expected": baseline.expected, "rtol": baseline.rtol, "samples": samples,
        "baseline_source": baseline.baseline_source, "review": review, **verdict.figures(),
        "request_errors": len(scored.errors), "per_sample_records": scored.from_records,
        "paired": paired.figures() if paired else None})
    gate.check_requests(baseline.task, scored, samples)
    if paired is not None:
        gate.check_paired(baseline.task, baseline.metric, paired)
    gate.check_verdict(baseline.task, baseline.metric, verdict,
                       evidence=gate.misses(results, baseline.task, baseline.metric))
    if verdict.outcome == gate.INCONCLUSIVE:
        pytest.skip(f"not run: inconclusive: {baseline.task} {baseline.metric} {verdict.reason()}")
    if review:
        warnings.warn(f"{model.name} {baseline.task} {baseline.metric}: measured {measured:.4f} is far above the "
                      f"baseline {baseline.expected} (review margin {baseline.review_margin}): review the baseline")


def _leaf_count(manager, name: str, seen=None) -> int:
    """How many leaf tasks lm-eval runs for `name` (`limit` applies to each): 1 for a task, the sum
    over a group's tasks, groups and tags."""
    seen = seen if seen is not None else set()
    entry = manager.task_index.get(name)
    if entry is None or name in seen:
        return 1
    seen.add(name)
    kind = getattr(entry.kind, "name", str(entry.kind))
    if kind == "TAG":
        return sum(_leaf_count(manager, sub, seen) for sub in sorted(entry.tags)) or 1
    cfg = entry.cfg if entry.cfg is not None else accuracy._config(entry)
    children = (cfg or {}).get("task") if "group" in (cfg or {}) else None
    if not isinstance(children, list):
        return 1
    names = [c if isinstance(c, str) else (c or {}).get("task") for c in children]
    return sum(_leaf_count(manager, n, seen) for n in names if isinstance(n, str)) or 1


def _baseline_items(baseline: accuracy.Baseline, leaves: set[str]) -> dict:
    """{(leaf task, doc_id): Item} of the baseline run's per-item records, or {} when none are kept."""
    folder = BASELINE_RECORDS / baseline.target / baseline.model
    if not folder.is_dir():
        return {}
    records = []
    for leaf in sorted(leaves | {baseline.task}):
        dated = re.compile(rf"samples_{re.escape(leaf)}_\d{{4}}-\d\d-\d\dT[\d.-]+\.jsonl")
        found = sorted(p for p in folder.iterdir() if dated.fullmatch(p.name)) or \
            [p for p in (folder / f"{leaf}.jsonl",) if p.is_file()]
        if found:  # the latest run's records
            with found[-1].open(encoding="utf-8") as lines:
                records += [(leaf, json.loads(line)) for line in lines if line.strip()]
    items, _errors = gate.item_scores(records, baseline.metric)  # a baseline item that got no answer: unpaired
    return items
