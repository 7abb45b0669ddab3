"""One chat completion as a dict, streamed (the raw chunks reassembled) or not: the suites ask the
same request both ways and compare."""
from __future__ import annotations

from typing import Callable

import pytest

from lfm_conformance.checks.tool_calls import reassemble

TRIES = 3  # streams asked before a check that needs one engine step per delta is NOT RUN


def with_step_metadata(kwargs: dict) -> dict:
    """The request asking each streamed chunk's tokens: logprobs, and vLLM's `return_token_ids`
    (with it vLLM 0.26+ sends a chunk for every engine step, also one whose text a parser holds
    back), so the stream shows where each step's delta ended (parsers/triggers.py)."""
    return {"logprobs": True, **with_token_ids(kwargs)}


def stream_chunks(client, **kwargs) -> list[dict]:
    """The chunks of a streamed chat completion, as the server sent them."""
    return [chunk.model_dump(exclude_unset=True) for chunk in client.chat.completions.create(stream=True, **kwargs)]


def tokens_per_chunk(chunks: list[dict]) -> list[int] | None:
    """How many generated tokens each chunk carried (its choices' `token_ids`, else their logprobs);
    None when no chunk said (the request did not ask `return_token_ids` or logprobs)."""
    counts, known = [], False
    for chunk in chunks:
        n = 0
        for choice in chunk.get("choices") or []:
            ids = choice.get("token_ids")
            if ids is None:
                ids = (choice.get("logprobs") or {}).get("content")
            if ids is not None:
                known = True
                n += len(ids)
        counts.append(n)
    return counts if known else None


def merged_steps(chunks: list[dict]) -> str | None:
    """Why the stream is not one engine step per delta, in words; None when it is. vLLM merges the
    deltas of several steps into one chunk when its API server falls behind (load, a slow parser
    step): the parsers then see other pieces, so a streamed parser result is a function of the build
    only on the token-level stream (greedy tokens, one token per delta). The servers the suite starts
    never merge (serving/step_deltas); an endpoint it did not start may."""
    counts = tokens_per_chunk(chunks)
    if counts is None:
        return "the stream carried no token ids: its chunking is unknown"
    merged = [(n, c) for n, c in enumerate(counts) if c > 1]
    if merged:
        shown = ", ".join(f"chunk {n}: {c} tokens" for n, c in merged[:8])
        return f"{len(merged)} of {len(chunks)} chunks merged engine steps ({shown})"
    return None


def token_level(ask: Callable[[], list[dict]], tries: int = TRIES) -> list[dict]:
    """The chunks of the first of up to `tries` streams (`ask()` returns one's chunks, asked with
    `return_token_ids`) in which every engine step came as its own delta; otherwise the check is
    NOT RUN with what each try showed (a merged stream is never judged: another run could merge
    elsewhere or not at all)."""
    seen = []
    for _ in range(tries):
        chunks = ask()
        why = merged_steps(chunks)
        if why is None:
            return chunks
        seen.append(why)
    pytest.skip(f"not run: no token-level stream in {tries} tries (one engine step per delta): " + " | ".join(seen))


def with_token_ids(kwargs: dict) -> dict:
    return {**kwargs, "extra_body": {"return_token_ids": True, **(kwargs.get("extra_body") or {})}}


def token_level_chunks(client, **kwargs) -> list[dict]:
    """The chunks of a streamed chat completion with one engine step per delta (see token_level)."""
    return token_level(lambda: stream_chunks(client, **with_token_ids(kwargs)))


def stream_chat(client, **kwargs) -> dict:
    """A streamed chat completion reassembled, from a token-level stream (see token_level)."""
    return reassemble(token_level_chunks(client, **kwargs))


def chat_response(client, stream: bool, **kwargs) -> dict:
    """The response to a chat request as the server sent it: the non-streaming body, or the
    token-level stream reassembled."""
    return stream_chat(client, **kwargs) if stream else client.chat.completions.create(**kwargs).model_dump()
