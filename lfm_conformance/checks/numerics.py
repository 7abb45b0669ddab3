"""Numerics: the served model computes what the reference implementation (transformers) computes
for the same weights. Guide: the architectures "are supported natively by vLLM"."""
from __future__ import annotations

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
    diffs = [abs(a - b) for a, b in zip(served, reference)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    if diffs[worst] > tolerance:
        first = next(i for i, d in enumerate(diffs) if d > tolerance)
        raise CheckFailed(
            "served logprobs differ from the transformers reference on the same weights",
            f"|served - reference| <= {tolerance} nats at every position",
            f"max {diffs[worst]:.3f} at position {worst + 1} (token {tokens[worst + 1]!r}); first over tolerance at "
            f"position {first + 1} of {len(diffs) + 1}",
            "per-position |diff|: " + ", ".join(f"{d:.3f}" for d in diffs[:16]))
