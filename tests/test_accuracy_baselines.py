"""matrix.yaml accuracy.gpu before any GPU run: every baseline names a task and metric the installed
lm-eval runs and reports, the one taken from vLLM's CI keeps vLLM's own floor, and every published
baseline is decidable by the samples it will get (or says it is not)."""
import pytest

from lfm_conformance.checks import accuracy as gate
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.workloads import accuracy
from suites import test_accuracy as suite

GPU = accuracy.baselines(matrix_mod.load(), "gpu")
PUBLISHED = [b for b in GPU if b.expected is not None]
# Items in each task's evaluation split: what `limit: null` scores (lm-eval 0.4.13 datasets).
FULL_SIZE = {"gsm8k": 1319, "ifeval": 541, "mmlu_pro": 12032, "mmmu_val": 900}
# Published baselines whose whole dataset is smaller than the sample their tolerance needs (matrix.yaml
# says so beside each): the gate decides what the data shows and reports the rest inconclusive.
PARTLY_RESOLVED = {("LFM2.5-VL-1.6B", "mmmu_val")}

pytestmark = pytest.mark.xdist_group("lm-eval-task-index")  # one worker indexes lm-eval's tasks (~15 s)


def _id(baseline) -> str:
    return f"{baseline.model}-{baseline.task}"


@pytest.fixture(scope="module")
def tasks():
    """lm-eval's own task index (what the GPU target runs: include_defaults)."""
    return accuracy.task_manager(include_defaults=True)


def reported_metrics(tasks, name: str) -> set[str]:
    """The "metric,filter" keys lm-eval reports for a task (a group: its aggregate metrics)."""
    cfg = accuracy._config(tasks.task_index[name])
    if "group" in cfg:
        keys = set()
        for aggregate in cfg.get("aggregate_metric_list") or []:
            filters = aggregate.get("filter_list", "none")
            keys |= {f"{aggregate['metric']},{f}" for f in ([filters] if isinstance(filters, str) else filters)}
        return keys
    filters = [f["name"] for f in cfg.get("filter_list") or []] or ["none"]
    return {f"{m['metric']},{f}" for m in cfg.get("metric_list") or [] for f in filters}


def test_vllm_ci_gsm8k_gate_is_mirrored_with_vllm_floor():
    """vLLM CI (tests/evals/gsm8k/configs/LFM2.5-350M.yaml @ 9d84d67): accuracy_threshold 0.21, num_questions
    1319, num_fewshot 5, prompts sent to /v1/completions, the reply's last number scored, gated as
    measured >= 0.21 - 0.08."""
    vllm = [b for b in GPU if b.baseline_source == "vllm-ci-config"]
    assert [(b.model, b.task) for b in vllm] == [("LFM2.5-350M", "gsm8k")]
    (baseline,) = vllm
    assert (baseline.expected, baseline.num_fewshot, baseline.limit) == (0.21, 5, None)
    assert baseline.backend == "local-completions" and not baseline.chat_template
    assert baseline.metric == "exact_match,flexible-extract"  # the last number, as vLLM scores; not "#### n"
    assert gate.floor_of(baseline.expected, baseline.rtol) == pytest.approx(0.21 - 0.08, abs=1e-4)
    assert gate.needed_samples(baseline.expected, baseline.rtol) <= 1319


@pytest.mark.parametrize("baseline", GPU, ids=_id)
def test_gpu_baseline_names_a_task_and_metric_lm_eval_reports(baseline, tasks):
    assert baseline.task in tasks.task_index, f"lm-eval has no task {baseline.task!r}"
    reported = reported_metrics(tasks, baseline.task)
    assert baseline.metric in reported, f"{baseline.task} reports {sorted(reported)}, not {baseline.metric!r}"


@pytest.mark.parametrize("baseline", PUBLISHED, ids=_id)
def test_published_baseline_gets_the_samples_its_tolerance_needs(baseline, tasks):
    leaves = suite._leaf_count(tasks, baseline.task)
    assert gate.limit_problem(baseline.expected, baseline.rtol, baseline.limit, leaves) is None
    needed = gate.needed_samples(baseline.expected, baseline.rtol)
    if baseline.limit is not None:
        return  # limit_problem checked limit x leaves
    assert baseline.task in FULL_SIZE, f"add the size of {baseline.task}'s evaluation split to FULL_SIZE"
    decidable = FULL_SIZE[baseline.task] >= needed
    assert decidable != ((baseline.model, baseline.task) in PARTLY_RESOLVED), (
        f"{baseline.model} {baseline.task}: {FULL_SIZE[baseline.task]} items, the tolerance needs {needed}")
