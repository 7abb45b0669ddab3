"""Streaming: the chunks of a streamed chat completion add up to the non-streaming response of
the same greedy request, field by field (content, reasoning, tool calls, finish_reason) and
nothing extra. Guide: an OpenAI-compatible API (streaming is part of it; "works fine with
streaming" for the parsers)."""
from __future__ import annotations

import json

from lfm_conformance.checks import CheckFailed, excerpt

TEXT_FIELDS = ("content", "reasoning", "reasoning_content")
# Delta keys a chunk may carry besides the text fields and tool calls (empty values are ignored).
ALLOWED_DELTA_KEYS = {"role", "tool_calls", "function_call", "refusal", "audio", *TEXT_FIELDS}


def assembled(chunks: list[dict]) -> dict:
    """What the chunks add up to: role, text fields, tool calls per index, finish_reason, and any
    other non-empty delta keys (`extra`). CheckFailed when a chunk is not a single-choice delta."""
    out = {"role": None, "text": dict.fromkeys(TEXT_FIELDS, ""), "calls": {}, "finish_reason": None, "extra": {}}
    for n, chunk in enumerate(chunks):
        choices = chunk.get("choices") or []
        if len(choices) > 1 or any(c.get("index", 0) != 0 for c in choices):
            raise CheckFailed("a stream chunk carries a choice the request did not ask for",
                              "one choice (index 0) per chunk", f"chunk {n}: indices {[c.get('index') for c in choices]}",
                              excerpt(chunk))
        for choice in choices:
            delta = choice.get("delta") or {}
            out["role"] = out["role"] or delta.get("role")
            for field in TEXT_FIELDS:
                out["text"][field] += delta.get(field) or ""
            for call in delta.get("tool_calls") or []:
                _add_call_delta(out["calls"], call)
            for key, value in delta.items():
                if key not in ALLOWED_DELTA_KEYS and value not in (None, "", [], {}):
                    out["extra"].setdefault(key, value)
            if choice.get("finish_reason"):
                out["finish_reason"] = choice["finish_reason"]
    return out


def _add_call_delta(calls: dict, delta: dict) -> None:
    call = calls.setdefault(delta.get("index", 0), {"ids": [], "types": [], "name": "", "arguments": ""})
    if delta.get("id"):
        call["ids"].append(delta["id"])
    if delta.get("type"):
        call["types"].append(delta["type"])
    fn = delta.get("function") or {}
    call["name"] += fn.get("name") or ""
    call["arguments"] += fn.get("arguments") or ""


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def stream_equals_response(chunks: list[dict], whole: dict) -> None:
    """The streamed chunks of a greedy request equal its non-streaming response."""
    if not chunks:
        raise CheckFailed("the stream carried no chunk", "the response as chunks", "no chunk")
    choice = (whole.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    got = assembled(chunks)
    evidence = f"{len(chunks)} chunks; non-streaming message {excerpt(message, 300)}"
    if got["role"] != "assistant":
        raise CheckFailed("the stream does not announce the assistant role", "delta.role 'assistant' in a chunk",
                          f"role {got['role']!r}", evidence)
    for field in TEXT_FIELDS:
        if got["text"][field] != (message.get(field) or ""):
            raise CheckFailed(f"streamed {field} differs from the non-streaming {field}",
                              repr(message.get(field) or ""), repr(got["text"][field]), evidence)
    _calls_equal(got["calls"], message.get("tool_calls") or [], evidence)
    if got["finish_reason"] != choice.get("finish_reason"):
        raise CheckFailed("the stream finished for a different reason", f"finish_reason {choice.get('finish_reason')!r}",
                          f"finish_reason {got['finish_reason']!r}", evidence)
    if got["extra"]:
        raise CheckFailed("the stream carries fields the non-streaming message does not",
                          f"delta keys among {sorted(ALLOWED_DELTA_KEYS)}", excerpt(got["extra"], 300), evidence)


def _calls_equal(streamed: dict, whole: list[dict], evidence: str) -> None:
    if sorted(streamed) != list(range(len(streamed))) or len(streamed) != len(whole):
        raise CheckFailed("the stream carries a different set of tool calls",
                          f"{len(whole)} calls (indices {list(range(len(whole)))}): {excerpt(whole, 200)}",
                          f"indices {sorted(streamed)}: {excerpt(streamed, 200)}", evidence)
    for index, expected in enumerate(whole):
        call, fn = streamed[index], expected.get("function") or {}
        if len(call["ids"]) != 1 or not call["ids"][0]:
            raise CheckFailed(f"streamed tool call {index} does not carry exactly one id", "one non-empty id",
                              f"ids {call['ids']}", evidence)
        if call["types"] not in ([], ["function"]) or (not call["types"] and expected.get("type") != "function"):
            raise CheckFailed(f"streamed tool call {index} has the wrong type", "type 'function'",
                              f"types {call['types']}", evidence)
        if call["name"] != fn.get("name"):
            raise CheckFailed(f"streamed tool call {index} has a different name", repr(fn.get("name")),
                              repr(call["name"]), evidence)
        if _json_or_text(call["arguments"]) != _json_or_text(fn.get("arguments") or ""):
            raise CheckFailed(f"streamed arguments of tool call {index} ({call['name']}) differ from non-streaming",
                              excerpt(fn.get("arguments")), excerpt(call["arguments"]), evidence)
