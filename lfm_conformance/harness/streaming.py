"""One chat completion as a dict, streamed (the raw chunks reassembled) or not: the suites ask the
same request both ways and compare."""
from __future__ import annotations

from lfm_conformance.checks.tool_calls import reassemble


def with_step_metadata(kwargs: dict) -> dict:
    """The request asking each streamed chunk's tokens: logprobs, and vLLM's `return_token_ids`
    (with it vLLM 0.26+ sends a chunk for every engine step, also one whose text a parser holds
    back), so the stream shows where each step's delta ended (parsers/triggers.py)."""
    extra = {"return_token_ids": True, **(kwargs.get("extra_body") or {})}
    return {"logprobs": True, **kwargs, "extra_body": extra}


def stream_chunks(client, **kwargs) -> list[dict]:
    """The chunks of a streamed chat completion, as the server sent them."""
    return [chunk.model_dump(exclude_unset=True) for chunk in client.chat.completions.create(stream=True, **kwargs)]


def stream_chat(client, **kwargs) -> dict:
    return reassemble(stream_chunks(client, **kwargs))


def chat_response(client, stream: bool, **kwargs) -> dict:
    """The response to a chat request as the server sent it: the non-streaming body, or the stream reassembled."""
    return stream_chat(client, **kwargs) if stream else client.chat.completions.create(**kwargs).model_dump()
