"""The stream-equality check passes on a stream that adds up to the response and fails, naming the
field, when only the stream is broken (one field at a time)."""
import copy
import json

import pytest

from lfm_conformance.checks import CheckFailed, streaming

CALLS = [{"id": "chatcmpl-tool-a1", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}},
         {"id": "chatcmpl-tool-b2", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}}]
WHOLE = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": None, "reasoning": "Two cities, two calls.", "tool_calls": CALLS}}]}


def _chunk(delta=None, finish=None):
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def _stream():
    """The shape vLLM 0.32 streams for the Thinking stand-in's parallel call (role first, reasoning
    in pieces, each call's id and name in its first delta, arguments after)."""
    return [_chunk({"role": "assistant", "content": ""}), _chunk({"reasoning": "Two cities, "}),
            _chunk({"reasoning": "two calls."}),
            _chunk({"tool_calls": [{"index": 0, "id": "chatcmpl-tool-x", "type": "function",
                                    "function": {"name": "get_weather", "arguments": ""}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            _chunk({"tool_calls": [{"index": 1, "id": "chatcmpl-tool-y", "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}}]}),
            _chunk(finish="tool_calls")]


def test_a_faithful_stream_passes():
    streaming.stream_equals_response(_stream(), WHOLE)
    text = {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "C. el"}}]}
    streaming.stream_equals_response([_chunk({"role": "assistant"}), _chunk({"content": "C."}),
                                      _chunk({"content": " el"}, finish="length")], text)


def _break(n, change):
    chunks = _stream()
    change(chunks[n]["choices"][0])
    return chunks


@pytest.mark.parametrize("chunks,problem", [
    (_break(2, lambda c: c["delta"].update(reasoning="two calls!")), "streamed reasoning differs"),
    (_break(1, lambda c: c["delta"].update(content=" ")), "streamed content differs"),
    (_break(5, lambda c: c["delta"]["tool_calls"][0]["function"].update(arguments='"Pari"}')),
     r"streamed arguments of tool call 0 \(get_weather\) differ"),
    (_break(6, lambda c: c["delta"]["tool_calls"][0]["function"].update(name="get_weathr")),
     "streamed tool call 1 has a different name"),
    (_break(6, lambda c: c["delta"]["tool_calls"][0].pop("id")), "tool call 1 does not carry exactly one id"),
    (_break(6, lambda c: c["delta"]["tool_calls"][0].update(index=2)), "different set of tool calls"),
    (_break(3, lambda c: c["delta"]["tool_calls"][0].update(type="code")), "tool call 0 has the wrong type"),
    (_break(7, lambda c: c.update(finish_reason="stop")), "finished for a different reason"),
    (_break(0, lambda c: c["delta"].pop("role")), "does not announce the assistant role"),
    (_break(1, lambda c: c["delta"].update(thinking_budget=12)), "fields the non-streaming message does not"),
    (_break(1, lambda c: c.update(index=1)), "a choice the request did not ask for"),
], ids=["reasoning", "content", "arguments", "name", "id", "index", "type", "finish_reason", "role", "extra-field",
        "extra-choice"])
def test_a_stream_broken_in_one_field_fails_naming_it(chunks, problem):
    with pytest.raises(CheckFailed, match=problem):
        streaming.stream_equals_response(chunks, WHOLE)


def test_a_dropped_call_or_empty_stream_fails():
    with pytest.raises(CheckFailed, match="different set of tool calls"):
        streaming.stream_equals_response(_stream()[:6] + _stream()[7:], WHOLE)
    with pytest.raises(CheckFailed, match="no chunk"):
        streaming.stream_equals_response([], WHOLE)


def test_arguments_compare_as_json_values():
    """Whitespace between JSON tokens is the same arguments; a different number is not."""
    whole = copy.deepcopy(WHOLE)
    whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = json.dumps({"location": "Paris"}, indent=1)
    streaming.stream_equals_response(_stream(), whole)
