"""The accuracy gate over lm-eval's results, the rule of vLLM's own lm-eval gates: a metric passes
when measured >= expected x (1 - rtol). A measurement far above the baseline (more than
expected x (1 + review_margin)) passes but is flagged for review: a stale baseline, or a scoring or
prompting change that inflates it."""
from __future__ import annotations

import math

from lfm_conformance.checks import CheckFailed, excerpt


def metric_value(results: dict, task: str, metric: str) -> tuple[float, int]:
    """(measured value, lm-eval's sample count) of `metric` ("name,filter") for `task`."""
    scores = (results.get("results") or {}).get(task)
    if not isinstance(scores, dict):
        raise CheckFailed(f"lm-eval returned no results for task {task!r}", f"results for {task!r}",
                          f"results for {sorted(results.get('results') or {})}", excerpt(results.get("results")))
    value = scores.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        named = sorted(k for k in scores if "," in k and "_stderr" not in k)
        raise CheckFailed(f"lm-eval reported no {metric!r} for task {task!r}", f"a number under {metric!r}",
                          f"{value!r}; metrics reported: {', '.join(named) or 'none'}", excerpt(scores))
    samples = _samples(results, task)
    if samples <= 0:
        raise CheckFailed(f"lm-eval scored no samples for task {task!r}", "at least one scored sample",
                          f"n-samples {excerpt((results.get('n-samples') or {}).get(task))}")
    return float(value), samples


def _samples(results: dict, task: str) -> int:
    counts = (results.get("n-samples") or {}).get(task)
    if isinstance(counts, dict):
        return int(counts.get("effective", 0))
    # a group: the sum over its subtasks
    subtasks = (results.get("group_subtasks") or {}).get(task) or []
    return sum(_samples(results, sub) for sub in subtasks)


def misses(results: dict, task: str, metric: str, limit: int = 3) -> str | None:
    """Evidence: the first samples lm-eval scored 0 on (its log_samples records)."""
    name, filter_name = metric.split(",", 1)
    found = []
    for sample in (results.get("samples") or {}).get(task) or []:
        if sample.get("filter", filter_name) == filter_name and sample.get(name) in (0, 0.0, False):
            found.append(f"doc {sample.get('doc_id')}: target {excerpt(sample.get('target'), 80)}, "
                         f"response {excerpt(sample.get('resps'), 200)}, "
                         f"extracted {excerpt(sample.get('filtered_resps'), 80)}")
    return "; ".join(found[:limit]) or None


def meets_baseline(task: str, metric: str, measured: float, samples: int, expected: float, rtol: float,
                   review_margin: float, evidence: str | None = None) -> bool:
    """Fails when measured < expected x (1 - rtol); returns whether the measurement is far above
    the baseline (> expected x (1 + review_margin)) and should be reviewed."""
    floor = expected * (1 - rtol)
    if measured < floor:
        raise CheckFailed(
            f"{task} {metric} is below its baseline",
            f">= {floor:.4f} (expected {expected:.4f} x (1 - rtol {rtol}))",
            f"measured {measured:.4f} over {samples} lm-eval samples "
            f"({(measured - expected) / expected:+.1%} vs expected)" if expected else
            f"measured {measured:.4f} over {samples} lm-eval samples",
            evidence,
        )
    return far_above(measured, expected, review_margin)


def far_above(measured: float, expected: float, review_margin: float) -> bool:
    return measured > expected * (1 + review_margin)
