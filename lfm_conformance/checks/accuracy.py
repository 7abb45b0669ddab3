"""The accuracy gate over lm-eval's results: a one-sided test against the baseline's floor that says
FAIL only when the data shows a shortfall, and says so when the sample is too small to tell.

With n scored samples, k of them correct (a proportion metric), p = k / n, the floor
f = expected x (1 - rtol) and z = the standard normal quantile at CONFIDENCE (1.645 at 95%), the
Wilson score bounds are

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    lower, upper = centre - half, centre + half          (each a one-sided 95% bound)

and the outcome is
    FAIL          upper < f: at 95% the true accuracy is below the floor;
    PASS          lower >= f (it is at or above the floor), or the interval straddles f and p >= f
                  (nothing shows a shortfall);
    INCONCLUSIVE  the interval straddles f and p < f: too few samples to tell noise from a drop.
The deterministic gate, f >= 1 (expected 1.0, rtol 0.0: the CPU fixtures are taught exact answers),
is decided by any sample size: under p = 1 a miss is impossible, so any miss FAILs and n/n PASSes.

Sizes (normal approximation, one-sided at CONFIDENCE, POWER 80%, tolerance d = expected - f):
    needed n = ceil(((z_a sqrt(f (1 - f)) + z_b sqrt(e (1 - e))) / d)^2)
    MDE(n)   = (z_a sqrt(f (1 - f)) + z_b sqrt(e (1 - e))) / sqrt(n)
(the difference n resolves; MDE(needed n) ~ d). Deterministic: needed 1, MDE 1 - (1 - POWER)^(1/n)
(the smallest miss rate that shows a miss with 80% probability). rtol 0 with expected < 1 is never
decidable (needed None).

When a baseline run's per-item records exist (lm-eval --log_samples), the same items are compared
too, paired: exact McNemar (a sign test for non-binary metrics) on the discordant pairs, b = baseline
right / candidate wrong, c = the reverse; one-sided p = P(X >= b), X ~ Binomial(b + c, 1/2); FAIL
when p < 1 - CONFIDENCE.

Requests that got no answer are infrastructure errors, never wrong answers. lm-eval's OpenAI
backends (local-completions, local-chat-completions; lm_eval 0.4.x api_models.py) retry a request
that errors or times out (HTTP error, aiohttp/requests timeout) max_retries times and then re-raise:
the whole evaluation aborts (`request_failure` names it). A response lm-eval gets but cannot use is
recorded in the per-sample records as an empty response: null content (e.g. a thinking model out of
tokens, or the answer in `reasoning`) becomes LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER (""), and an
unparseable chat response becomes "" (`no_answer`). Both are counted apart and fail the check.

A measurement far above the baseline (more than expected x (1 + review_margin)) passes but is
flagged for review: a stale baseline, or a scoring or prompting change that inflates it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from lfm_conformance.checks import CheckFailed, excerpt

CONFIDENCE = 0.95  # one-sided, for each Wilson bound and for the paired test
POWER = 0.80  # for the sample size needed and the minimum detectable effect
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
INFRASTRUCTURE = "infrastructure error"


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
    """Evidence: the first samples lm-eval scored 0 on (its log_samples records); samples that got
    no answer are infrastructure errors, not misses, and are left out."""
    name, filter_name = metric.split(",", 1)
    found = []
    for _, sample in sample_records(results, task):
        if (sample.get("filter", filter_name) == filter_name and sample.get(name) in (0, 0.0, False)
                and not no_answer(sample)):
            found.append(f"doc {sample.get('doc_id')}: target {excerpt(sample.get('target'), 80)}, "
                         f"response {excerpt(sample.get('resps'), 200)}, "
                         f"extracted {excerpt(sample.get('filtered_resps'), 80)}")
    return "; ".join(found[:limit]) or None


# -- statistics (standard library only) ---------------------------------------------------------
def z_value(probability: float) -> float:
    """The standard normal quantile: z_value(0.95) = 1.645."""
    return NormalDist().inv_cdf(probability)


def wilson_bounds(k: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(lower, upper): the Wilson score bounds for k successes in n, each one-sided at `confidence`."""
    if n <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = min(max(k / n, 0.0), 1.0)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lower = 0.0 if k <= 0 else max(0.0, centre - half)  # exact at the edges, not 1e-17 off
    upper = 1.0 if k >= n else min(1.0, centre + half)
    return lower, upper


def floor_of(expected: float, rtol: float) -> float:
    return expected * (1 - rtol)


def deterministic(expected: float, rtol: float) -> bool:
    """expected 1.0 with rtol 0: every sample must be right, and any sample size decides."""
    return floor_of(expected, rtol) >= 1.0


def _spread(expected: float, rtol: float, confidence: float, power: float) -> float:
    f, e = floor_of(expected, rtol), min(expected, 1.0)
    return z_value(confidence) * math.sqrt(f * (1 - f)) + z_value(power) * math.sqrt(e * (1 - e))


def needed_samples(expected: float, rtol: float, confidence: float = CONFIDENCE, power: float = POWER) -> int | None:
    """The sample size at which the tolerance (expected - floor) is resolved at `confidence` with
    `power`; 1 for the deterministic gate and a floor at or below 0; None when no size will do
    (rtol 0 with expected below 1)."""
    f = floor_of(expected, rtol)
    if deterministic(expected, rtol) or f <= 0:
        return 1
    tolerance = expected - f
    if tolerance <= 0:
        return None
    return max(1, math.ceil((_spread(expected, rtol, confidence, power) / tolerance) ** 2))


def detectable_effect(n: int, expected: float, rtol: float, confidence: float = CONFIDENCE,
                      power: float = POWER) -> float | None:
    """The minimum detectable effect at n: the absolute difference n resolves at `confidence` with
    `power` (the deterministic gate: the smallest miss rate that shows a miss with that power)."""
    if n <= 0:
        return None
    if deterministic(expected, rtol):
        return 1 - (1 - power) ** (1 / n)
    return _spread(expected, rtol, confidence, power) / math.sqrt(n)


def limit_problem(expected: float, rtol: float, limit: int | None, leaves: int = 1,
                  confidence: float = CONFIDENCE, power: float = POWER) -> str | None:
    """Why a configured lm-eval `limit` (per leaf task; `leaves` tasks under a group) is too small
    to detect the baseline's tolerance, or None when it is not (or unlimited, or deterministic)."""
    if limit is None or expected is None or deterministic(expected, rtol):
        return None
    needed = needed_samples(expected, rtol, confidence, power)
    at_most = limit * max(leaves, 1)
    gives = f"limit {limit}" + (f" x {leaves} subtasks" if leaves > 1 else "") + f" gives at most {at_most} samples"
    tolerance = f"the tolerance {expected - floor_of(expected, rtol):.4f} (expected {expected} x rtol {rtol})"
    if needed is None:
        return (f"{gives}, and no sample size detects {tolerance}: rtol 0 with expected below 1.0 is never "
                f"decidable; set rtol > 0")
    if at_most >= needed:
        return None
    return (f"{gives}, too few to detect {tolerance} at {confidence:.0%} confidence with {power:.0%} power: "
            f"needs >= {needed} samples (minimum detectable effect at {at_most}: "
            f"{detectable_effect(at_most, expected, rtol, confidence, power):.4f}); raise the limit "
            f"(null: the whole dataset) or widen rtol")


@dataclass(frozen=True)
class Verdict:
    """The one-sided gate of k correct out of n against expected x (1 - rtol)."""

    outcome: str  # PASS, FAIL or INCONCLUSIVE
    rule: str  # what decided it: deterministic, upper bound, lower bound, point estimate, straddles
    n: int
    k: float
    expected: float
    rtol: float
    floor: float
    lower: float
    upper: float
    confidence: float
    power: float
    mde: float | None
    needed: int | None

    @property
    def estimate(self) -> float | None:
        return self.k / self.n if self.n else None

    def figures(self) -> dict:
        return {"outcome": self.outcome, "rule": self.rule, "floor": self.floor, "lower": self.lower,
                "upper": self.upper, "confidence": self.confidence, "power": self.power,
                "scored_samples": self.n, "correct": _number(self.k), "mde": self.mde,
                "needed_samples": self.needed}

    def sizes(self) -> str:
        """The minimum detectable effect at this n and the n the tolerance needs."""
        mde = "-" if self.mde is None else f"{self.mde:.4f}"
        needed = "no sample size (rtol 0 with expected below 1.0)" if self.needed is None else f"n >= {self.needed}"
        return (f"n={self.n} resolves differences of {mde} (minimum detectable effect at {self.confidence:.0%} "
                f"confidence, {self.power:.0%} power); the tolerance {self.expected - self.floor:.4f} "
                f"(expected {self.expected} x rtol {self.rtol}) needs {needed}")

    def interval(self) -> str:
        return f"[{self.lower:.4f}, {self.upper:.4f}] (Wilson, one-sided {self.confidence:.0%} each)"

    def reason(self) -> str:
        """One line for a skip or a report: what was measured and why this outcome."""
        return (f"measured {_ratio(self.k, self.n)} with bounds {self.interval()}: {_RULES[self.rule]} "
                f"floor {self.floor:.4f}; {self.sizes()}")


_RULES = {"deterministic": "expected 1.0 with rtol 0 allows no miss against the",
          "upper bound": "the upper bound is below the", "lower bound": "the lower bound clears the",
          "point estimate": "the interval straddles, the point estimate is at or above the",
          "straddles": "the interval straddles, the point estimate is below the",
          "no floor": "nothing can fall below the", "no samples": "no scored sample to compare with the"}


def judge(k: float, n: int, expected: float, rtol: float, confidence: float = CONFIDENCE,
          power: float = POWER) -> Verdict:
    """The outcome of k correct out of n scored samples against expected x (1 - rtol) (module doc)."""
    f = floor_of(expected, rtol)
    lower, upper = wilson_bounds(k, n, confidence)
    if n <= 0:
        outcome, rule = INCONCLUSIVE, "no samples"
    elif deterministic(expected, rtol):
        outcome, rule = (PASS if k >= n else FAIL), "deterministic"
    elif f <= 0:
        outcome, rule = PASS, "no floor"
    elif upper < f:
        outcome, rule = FAIL, "upper bound"
    elif lower >= f:
        outcome, rule = PASS, "lower bound"
    elif k / n >= f:
        outcome, rule = PASS, "point estimate"
    else:
        outcome, rule = INCONCLUSIVE, "straddles"
    return Verdict(outcome, rule, n, k, expected, rtol, f, lower, upper, confidence, power,
                   detectable_effect(n, expected, rtol, confidence, power),
                   needed_samples(expected, rtol, confidence, power))


class Inconclusive(Exception):
    """Too few samples to tell: not a PASS (the suite reports it as `not run: inconclusive: ...`)."""

    def __init__(self, verdict: Verdict, task: str = "", metric: str = ""):
        self.verdict = verdict
        super().__init__(f"{task} {metric} {verdict.reason()}".strip())


def check_verdict(task: str, metric: str, verdict: Verdict, evidence: str | None = None) -> Verdict:
    """Raises CheckFailed when the verdict is FAIL; returns it otherwise (PASS or INCONCLUSIVE)."""
    if verdict.outcome != FAIL:
        return verdict
    e = verdict.expected
    versus = f" ({(verdict.estimate - e) / e:+.1%} vs expected)" if e else ""
    why = ("expected 1.0 with rtol 0 allows no miss" if verdict.rule == "deterministic" else
           f"the upper bound of {verdict.interval()} is {verdict.upper:.4f} < floor {verdict.floor:.4f}")
    raise CheckFailed(
        f"{task} {metric} is below its baseline",
        f">= {verdict.floor:.4f} (expected {e:.4f} x (1 - rtol {verdict.rtol})), shown at {verdict.confidence:.0%} "
        f"confidence",
        f"measured {verdict.estimate:.4f} over {verdict.n} lm-eval samples ({_fraction(verdict.k, verdict.n)} "
        f"correct){versus}: {why}; {verdict.sizes()}",
        evidence,
    )


def meets_baseline(task: str, metric: str, measured: float, samples: int, expected: float, rtol: float,
                   review_margin: float, evidence: str | None = None) -> bool:
    """The gate over lm-eval's aggregate (k = measured x samples): raises CheckFailed on FAIL and
    Inconclusive when the sample is too small to tell; on PASS returns whether the measurement is
    far above the baseline (> expected x (1 + review_margin)) and should be reviewed."""
    verdict = check_verdict(task, metric, judge(_count(measured * samples), samples, expected, rtol), evidence)
    if verdict.outcome == INCONCLUSIVE:
        raise Inconclusive(verdict, task, metric)
    return far_above(measured, expected, review_margin)


def far_above(measured: float, expected: float, review_margin: float) -> bool:
    return measured > expected * (1 + review_margin)


# -- per-sample records: what was scored, what got no answer ------------------------------------
def sample_records(results: dict, task: str) -> list[tuple[str, dict]]:
    """(leaf task, record) for every lm-eval log_samples record under `task` (a group: its subtasks)."""
    samples = results.get("samples") or {}
    if task in samples:
        return [(task, record) for record in samples[task] or []]
    found = []
    for sub in (results.get("group_subtasks") or {}).get(task) or []:
        found += sample_records(results, sub)
    return found


def no_answer(record: dict) -> bool:
    """Whether a generate_until record holds a request that got no answer: lm-eval writes "" for a
    null content (LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER) and for a response it could not parse."""
    texts = list(_strings(record.get("resps")))
    return bool(texts) and any(not t.strip() for t in texts)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)) and not _logprob_pair(value):
        for item in value:
            yield from _strings(item)


def _logprob_pair(value) -> bool:
    """A loglikelihood response, (logprob, is_greedy), or as lm-eval's JSONL writes it, two strings."""
    return len(value) == 2 and _numeric(value[0]) and str(value[1]) in ("True", "False")


def _numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Item:
    value: float
    doc_hash: str | None = None


@dataclass(frozen=True)
class Scored:
    """The samples a metric was computed on: n scored, k correct, the ones that got no answer apart."""

    n: int
    k: float
    errors: list = field(default_factory=list)  # (leaf task, doc_id, response excerpt)
    items: dict = field(default_factory=dict)  # (leaf task, doc_id) -> Item, scored samples only
    from_records: bool = False  # False: k = measured x n from lm-eval's aggregate (no per-sample records)


def item_scores(records, metric: str) -> tuple[dict, list]:
    """({(leaf task, doc_id): Item} for the records of `metric`'s filter that were answered,
    [(leaf task, doc_id, response excerpt)] for those that got no answer)."""
    name, filter_name = metric.split(",", 1)
    items, errors = {}, []
    for leaf, record in records:
        if record.get("filter", filter_name) != filter_name or name not in record:
            continue
        key = (leaf, record.get("doc_id"))
        if no_answer(record):
            errors.append((leaf, record.get("doc_id"), excerpt(record.get("resps"), 120)))
            continue
        value = _proportion(record[name], f"{leaf} doc {record.get('doc_id')} {name}")
        items[key] = Item(value, record.get("doc_hash"))
    return items, errors


def score(results: dict, task: str, metric: str, measured: float, samples: int) -> Scored:
    """n and k from lm-eval's per-sample records when it kept them (errors apart), else from its
    aggregate: k = measured x samples (a [0, 1] metric's mean: Wilson is conservative for it)."""
    items, errors = item_scores(sample_records(results, task), metric)
    if items or errors:
        return Scored(len(items), _count(sum(i.value for i in items.values())), errors, items, True)
    _proportion(measured, f"{task} {metric}")
    return Scored(samples, _count(measured * samples))


def check_requests(task: str, scored: Scored, total: int | None = None) -> None:
    """Raises CheckFailed (an infrastructure error, not accuracy) when any sample got no answer."""
    if not scored.errors:
        return
    total = total if total is not None else scored.n + len(scored.errors)
    shown = "; ".join(f"{leaf} doc {doc}: response {resp}" for leaf, doc, resp in scored.errors[:3])
    raise CheckFailed(
        f"{INFRASTRUCTURE}: {len(scored.errors)} of {total} lm-eval requests for {task} got no answer; "
        f"not scored as accuracy",
        "every lm-eval request answered with content",
        f"{len(scored.errors)} empty responses (lm-eval records a null content or an unparseable response as \"\"): "
        f"a request that failed, timed out, ran out of tokens or put its answer outside `content`; "
        f"{scored.n} samples were scored",
        shown,
    )


def request_failure(exc: BaseException, task: str, server_url: str | None = None) -> CheckFailed | None:
    """The infrastructure error for an exception lm-eval raised after retrying a request to the
    server (an HTTP error answer, a timeout, a refused connection), or None for any other exception.
    With `server_url`, an HTTP or connection error counts only when it names the server (a dataset
    download fails with the same exception types); a timeout names nothing and always counts."""
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for error in chain:
        kinds = {f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__}
        timeout = isinstance(error, TimeoutError)
        http = (isinstance(error, ConnectionError) or "tenacity.RetryError" in kinds
                or any(k.startswith(("aiohttp.", "requests.exceptions.")) for k in kinds))
        if timeout or (http and _names_server(error, server_url)):
            return CheckFailed(
                f"{INFRASTRUCTURE}: an lm-eval request for {task} to the server failed after its retries; "
                f"no accuracy was measured",
                "every lm-eval request answered (HTTP 200 within lm-eval's timeout)",
                f"{type(error).__module__}.{type(error).__qualname__}: {excerpt(str(error), 300) or '(no message)'}",
            )
    return None


def _names_server(error: BaseException, server_url: str | None) -> bool:
    if not server_url:
        return True
    from urllib.parse import urlsplit

    where = urlsplit(server_url if "//" in server_url else f"//{server_url}")
    text = f"{error!s} {error!r}"
    host, port = where.hostname or "", where.port
    if not host or host not in text:
        return False
    return port is None or f"{host}:{port}" in text or f"port={port}" in text  # aiohttp / requests spellings


# -- the paired test on the same items ----------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    pairs: int  # items scored in both runs
    b: int  # baseline right, candidate wrong (baseline better)
    c: int  # baseline wrong, candidate right (candidate better)
    p_value: float  # one-sided: the candidate is worse
    confidence: float
    unmatched: int  # baseline items missing from this run or with a different document

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.confidence

    def figures(self) -> dict:
        return {"test": "exact McNemar (one-sided)", "pairs": self.pairs, "b": self.b, "c": self.c,
                "p_value": self.p_value, "alpha": round(1 - self.confidence, 10), "significant": self.significant,
                "unmatched": self.unmatched}


def mcnemar_p(b: int, c: int) -> float:
    """Exact one-sided McNemar: P(X >= b) for X ~ Binomial(b + c, 1/2) (1.0 with no discordant pair)."""
    m = b + c
    if m == 0:
        return 1.0
    return min(1.0, sum(math.comb(m, i) for i in range(b, m + 1)) / 2 ** m)


def paired(baseline: dict, candidate: dict, confidence: float = CONFIDENCE) -> Paired:
    """Pairs {(leaf task, doc_id): Item} of a baseline run and this one (same document where both
    recorded its hash); b / c count the items on which one run scored higher than the other."""
    b = c = pairs = unmatched = 0
    for key, base in baseline.items():
        cand = candidate.get(key)
        if cand is None or (base.doc_hash and cand.doc_hash and base.doc_hash != cand.doc_hash):
            unmatched += 1
            continue
        pairs += 1
        b += base.value > cand.value
        c += cand.value > base.value
    return Paired(pairs, b, c, mcnemar_p(b, c), confidence, unmatched)


def check_paired(task: str, metric: str, result: Paired) -> Paired:
    """Raises CheckFailed when, on the same items, this run is significantly worse than the baseline run."""
    if result.significant:
        raise CheckFailed(
            f"{task} {metric} is significantly worse than its baseline run on the same items",
            f"no significant drop on the same items (exact McNemar, one-sided p >= {1 - result.confidence:.2f})",
            f"{result.pairs} paired items: {result.b} right in the baseline run and wrong now, {result.c} the "
            f"reverse; p = {result.p_value:.3g}",
        )
    return result


# -- helpers ------------------------------------------------------------------------------------
def _proportion(value, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        raise ValueError(f"{what}: {value!r} is not a proportion in [0, 1]; the accuracy gate needs one")
    return float(value)


def _count(k: float) -> float:
    """k as an integer when it is one up to rounding (measured x samples)."""
    return round(k) if abs(k - round(k)) < 1e-6 else k


def _number(k: float):
    return int(k) if float(k).is_integer() else k


def _fraction(k: float, n: int) -> str:
    return f"{_number(k) if float(k).is_integer() else f'{k:.2f}'}/{n}"


def _ratio(k: float, n: int) -> str:
    return f"{k / n:.4f} ({_fraction(k, n)})" if n else f"- ({_fraction(k, n)})"
