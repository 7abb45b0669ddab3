"""Numerics: the served model computes what the reference implementation (transformers) computes
for the same weights. Guide: the architectures "are supported natively by vLLM"."""
from __future__ import annotations

import math

from lfm_conformance.checks import CheckFailed, excerpt


def served_prompt_logprobs(response: dict, ids: list[int]) -> list[float]:
    """Per-position logprob of each prompt token after the first, from a completions response
    requested with prompt_logprobs."""
    entries = (response.get("choices") or [{}])[0].get("prompt_logprobs")
    if not entries or len(entries) != len(ids):
        raise CheckFailed("the server returned no prompt logprobs for the prompt", f"{len(ids)} entries",
                          f"{len(entries or [])} entries", excerpt(response))
    return [entry[str(token)]["logprob"] for entry, token in zip(entries[1:], ids[1:])]


def logprobs_match(served: list[float], reference: list[float], tolerance: float, tokens: list[str]) -> None:
    expected = f"|served - reference| <= {tolerance} nats at every position"
    if len(served) != len(reference):
        raise CheckFailed("served and reference logprobs cover different positions", f"{len(reference)} positions",
                          f"{len(served)} positions", f"served {excerpt(served, 200)}; reference {excerpt(reference, 200)}")
    if not served:
        raise CheckFailed("no logprobs to compare", expected, "0 positions")
    unusable = [i for i, (a, b) in enumerate(zip(served, reference)) if not (math.isfinite(a) and math.isfinite(b))]
    if unusable:
        i = unusable[0]
        raise CheckFailed("a logprob is not a finite number", expected,
                          f"{len(unusable)} of {len(served)} positions, first at position {i + 1}: served {served[i]}, "
                          f"reference {reference[i]}", "served: " + ", ".join(f"{v:.3f}" for v in served[:16]))
    diffs = [abs(a - b) for a, b in zip(served, reference)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    if diffs[worst] > tolerance:
        first = next(i for i, d in enumerate(diffs) if d > tolerance)
        raise CheckFailed(
            "served logprobs differ from the transformers reference on the same weights", expected,
            f"max {diffs[worst]:.3f} at position {worst + 1} (token {tokens[worst + 1]!r}); first over tolerance at "
            f"position {first + 1} of {len(diffs) + 1}",
            "per-position |diff|: " + ", ".join(f"{d:.3f}" for d in diffs[:16]))
