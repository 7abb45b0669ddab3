"""Performance checks. Guide, "Benchmarking": `vllm bench serve` (random 1000/1000 tokens, request
rate 10000, 64 prompts, --ignore-eos) against a server with --no-enable-prefix-caching;
"Speed-of-Light Tuning": knobs with a claimed gain, "output identical" (VLLM_USE_OINK_OPS) or
"little difference" (the others); VLLM_USE_FASTOKENS swaps the tokenizer backend."""
from __future__ import annotations

from lfm_conformance.checks import CheckFailed, excerpt


def protocol_completed(figures: dict, num_prompts: int, errors: list | None = None) -> None:
    """Every benchmark request completed; none failed."""
    completed, failed = figures.get("completed") or 0, figures.get("failed") or 0
    if completed != num_prompts or failed:
        shown = [e for e in (errors or []) if e][:3]
        raise CheckFailed("benchmark requests failed", f"{num_prompts} of {num_prompts} requests completed, 0 failed",
                          f"{completed} completed, {failed} failed", excerpt(shown) if shown else None)


def throughput_within_baseline(measured: float, baseline: float, rtol: float, metric: str, where: str,
                               source: str) -> None:
    """One-sided regression gate: measured >= baseline x (1 - rtol)."""
    floor = baseline * (1 - rtol)
    if measured is None or measured < floor:
        raise CheckFailed(
            f"{metric} regressed beyond the baseline tolerance on {where}",
            f"{metric} >= {floor:.1f} (baseline {baseline:.1f} x (1 - rtol {rtol}); {source})",
            f"{metric} = {measured if measured is None else round(measured, 1)} "
            f"({(measured / baseline - 1) * 100 if measured and baseline else -100:+.1f}% vs baseline)")


def gain_meets_claim(baseline: float, with_knob: float, claimed_gain: float, tolerance: float, knob: str,
                     metric: str = "output_throughput") -> float:
    """A knob's measured gain (with/without - 1) reaches the guide's claim, less a noise tolerance;
    returns the measured gain."""
    gain = with_knob / baseline - 1 if baseline else float("-inf")
    if gain < claimed_gain - tolerance:
        raise CheckFailed(f"{knob} does not give the guide's claimed gain",
                          f"{metric} gain >= {claimed_gain * 100:+.1f}% (tolerance {tolerance * 100:.1f} points)",
                          f"{gain * 100:+.1f}% ({with_knob:.1f} with the knob vs {baseline:.1f} without)")
    return gain


def _first_difference(a: list, b: list) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _at(tokens: list, i: int) -> str:
    return repr(tokens[i]) if i < len(tokens) else "<end of output>"


def greedy_outputs_identical(baseline: dict[str, list[int]], candidate: dict[str, list[int]], knob: str,
                             promise: str, decode=None) -> None:
    """Greedy (temperature 0, fixed seed) output token ids per prompt are the same with the knob as
    without it. Reports the first differing prompt, token position and tokens."""
    missing = sorted(set(baseline) - set(candidate))
    if missing:
        raise CheckFailed(f"with {knob} some prompts returned no output", "an output for every prompt",
                          f"no output for {', '.join(missing)}")
    for prompt, expected in baseline.items():
        got = candidate[prompt]
        pos = _first_difference(expected, got)
        if pos is None:
            continue
        differing = sum(_first_difference(baseline[p], candidate[p]) is not None for p in baseline)
        text = (lambda ids: repr(decode(ids))) if decode else (lambda ids: str(ids))
        raise CheckFailed(
            f"{knob} changes greedy outputs (guide: {promise})",
            "token-for-token the same greedy output as the server without the knob",
            f"prompt {prompt!r}: first difference at output token {pos}: {_at(expected, pos)} without the knob, "
            f"{_at(got, pos)} with it ({differing} of {len(baseline)} prompts differ)",
            f"without: {excerpt(text(expected[:pos + 8]), 200)}; with: {excerpt(text(got[:pos + 8]), 200)}")


def greedy_deterministic(first: dict[str, list[int]], second: dict[str, list[int]]) -> None:
    """The same greedy requests twice give the same tokens (else knob comparisons mean nothing)."""
    greedy_outputs_identical(first, second, "repeating the request", "temperature 0 is deterministic")


def token_ids_equal(served: list[int], reference: list[int], text: str, tokenizer: str) -> None:
    """The server's tokenization of `text` equals the reference tokenizer's."""
    pos = _first_difference(reference, served)
    if pos is not None:
        raise CheckFailed(
            f"served token ids differ from the {tokenizer} tokenizer",
            f"the {tokenizer} ids {excerpt(reference, 160)}",
            f"first difference at index {pos}: {_at(reference, pos)} expected, {_at(served, pos)} served "
            f"({len(served)} ids served, {len(reference)} expected)",
            f"text: {excerpt(text, 160)}")


def tokenized(status: int, body: dict, request: str) -> list[int]:
    """The token ids of a /tokenize response; fails with the server's error when it sent none."""
    tokens = body.get("tokens") if isinstance(body, dict) else None
    if status != 200 or not isinstance(tokens, list):
        raise CheckFailed(f"the server did not tokenize the {request}", "HTTP 200 with the token ids",
                          f"HTTP {status}: {excerpt(body, 300)}")
    return tokens


def knob_accepted(knob: str, rejection: str | None) -> None:
    """vLLM accepts the knob's documented setting."""
    if rejection:
        raise CheckFailed(f"vLLM rejects the documented setting {knob}", f"{knob} is accepted (guide: Speed-of-Light "
                          "Tuning)", excerpt(rejection, 300))


def tensor_parallel_gain_within_claim(single: float, parallel: float, max_gain: float, setting: str) -> float:
    """Multi-GPU: "tensor parallelism gives no meaningful speedup ... expect no throughput gain". The
    output throughput with `setting` over the one without it (tensor parallel size 1, same node) is at
    most 1 + max_gain; returns the measured gain (with / without - 1)."""
    if not single or single <= 0 or parallel is None:
        raise CheckFailed(f"no throughput to compare {setting} with",
                          "output throughput measured with and without the setting",
                          f"without: {single!r}; with: {parallel!r}")
    gain = parallel / single - 1
    if gain > max_gain:
        raise CheckFailed(f"{setting} gives a meaningful speedup, where the guide expects none",
                          f"output throughput gain <= {max_gain * 100:+.1f}% (guide: no meaningful speedup, "
                          "expect no throughput gain)",
                          f"{gain * 100:+.1f}% ({parallel:.1f} tok/s with {setting} vs {single:.1f} without)")
    return gain
