"""One chat completion as a dict, streamed (the raw chunks reassembled) or not: the suites ask the
same request both ways and compare.

How a stream is cut into deltas is not the build's alone: a server under load merges several engine
steps' tokens into one delta, and a parser's behaviour can depend on where deltas end. So a stream
the suites judge is asked with per-token logprobs and vLLM's `return_token_ids` (they show each
chunk's tokens; with the latter vLLM 0.26+ sends a chunk for every engine step, also one whose
text a parser holds back) and judged only when it came one token per engine step, the way an
unloaded server streams: up to TRIES streams, else the check is NOT RUN with what each showed."""
from __future__ import annotations

import pytest

from lfm_conformance.checks.tool_calls import reassemble

TRIES = 3


def with_step_metadata(kwargs: dict) -> dict:
    """The request asking each streamed chunk's tokens (logprobs, and token ids: vLLM's extension)."""
    extra = {"return_token_ids": True, **(kwargs.get("extra_body") or {})}
    return {"logprobs": True, **kwargs, "extra_body": extra}


def stream_chunks(client, **kwargs) -> list[dict]:
    """The chunks of a streamed chat completion, as the server sent them."""
    return [chunk.model_dump(exclude_unset=True) for chunk in client.chat.completions.create(stream=True, **kwargs)]


def _tokens(choice: dict) -> list | None:
    ids = choice.get("token_ids")
    return ids if ids is not None else (choice.get("logprobs") or {}).get("content")


def tokens_per_chunk(chunks: list[dict]) -> list[int] | None:
    """How many tokens each chunk carried (its token ids, else its logprobs), chunks without tokens
    left out; None when the stream carried neither."""
    counts = [len(tokens) for chunk in chunks for choice in chunk.get("choices") or []
              if (tokens := _tokens(choice)) is not None]
    return [n for n in counts if n] if counts else None


def merged_steps(chunks: list[dict]) -> str | None:
    """Why the stream is not one token per engine step (None: it is)."""
    counts = tokens_per_chunk(chunks)
    if counts is None:
        return "the stream carried no per-token logprobs or token ids: its chunking is unknown"
    merged = [n for n in counts if n > 1]
    if merged:
        return f"{len(merged)} of {len(counts)} deltas carried several tokens (up to {max(merged)})"
    return None


def stream_token_by_token(client, tries: int = TRIES, **kwargs) -> list[dict]:
    """The chunks of the first of up to `tries` streams that came one token per engine step;
    skips the test (NOT RUN) when none did."""
    kwargs = with_step_metadata(kwargs)
    seen = []
    for _ in range(tries):
        chunks = stream_chunks(client, **kwargs)
        reason = merged_steps(chunks)
        if reason is None:
            return chunks
        seen.append(reason)
    pytest.skip(f"not run: no stream came one token per delta in {tries} tries (the server merged engine steps; "
                f"the check's outcome would depend on where deltas end): " + " | ".join(seen))


def stream_chat(client, **kwargs) -> dict:
    return reassemble(stream_token_by_token(client, **kwargs))


def chat_response(client, stream: bool, **kwargs) -> dict:
    """The response to a chat request as the server sent it: the non-streaming body, or the stream
    (one token per delta) reassembled."""
    return stream_chat(client, **kwargs) if stream else client.chat.completions.create(**kwargs).model_dump()
