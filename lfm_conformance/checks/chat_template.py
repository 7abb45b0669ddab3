"""Chat template: the prompt the server renders is the model's published template's rendering.
Guide: the models are served with the chat template they ship with (vLLM applies it to `messages`);
a served prompt that differs token for token from the template's own rendering changes what the
model sees."""
from __future__ import annotations

from lfm_conformance.checks import CheckFailed, excerpt

CONTEXT_TOKENS = 8


def token_difference(served: list[int], reference: list[int], decode=None) -> tuple[int, str, str, str | None] | None:
    """None when equal; else the first differing position, both neighbourhoods (ids and decoded text)
    and the served text as evidence."""
    if served == reference:
        return None
    at = next((i for i, (a, b) in enumerate(zip(served, reference)) if a != b), min(len(served), len(reference)))
    window = slice(max(0, at - CONTEXT_TOKENS), at + CONTEXT_TOKENS)

    def show(ids):
        part = ids[window]
        return f"{part} {decode(part)!r}" if decode else str(part)

    return (at, f"{len(reference)} tokens; around {at}: {show(reference)}",
            f"{len(served)} tokens; around {at}: {show(served)}", excerpt(decode(served)) if decode else None)


def prompt_tokens_equal(served: list[int], reference: list[int], decode=None) -> None:
    """Token-for-token equality; on a difference, the first differing position with the text around it."""
    if (diff := token_difference(served, reference, decode)) is not None:
        at, expected, observed, evidence = diff
        raise CheckFailed(f"the served prompt differs from the chat template's rendering at token {at}",
                          expected, observed, evidence)
