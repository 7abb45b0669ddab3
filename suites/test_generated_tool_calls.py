"""End to end: the seeded generated tool calls (fixtures/generated_calls.yaml) through a real server.
The CPU stand-in is taught to answer each prompt with its call, so the same prompt asked streaming
and non-streaming shows whether the in-process parser findings (suites/parser_findings.yaml) reach
users. Applies to fixture targets whose stand-in was taught the calls (real weights emit their own)."""
import json

import pytest

from fixtures import generated_calls
from lfm_conformance.checks import tool_calls
from lfm_conformance.checks.parser_properties import calls_equal_generated
from lfm_conformance.harness.streaming import chat_response

pytestmark = pytest.mark.requires("tools")
CALLS = {call["id"]: call for call in generated_calls.calls()}
BOUND = 512


def _ask(server, model, call, stream: bool) -> dict:
    kwargs = dict(model=model.hf_id, messages=generated_calls.prompt(call), tools=[generated_calls.tool(call)],
                  temperature=0, max_tokens=BOUND)
    return chat_response(server.client(), stream, **kwargs)


def _taught(model, matrix, serve_config):
    reason = generated_calls.not_taught_reason(model, matrix, serve_config)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("call_id", list(CALLS))
def test_generated_call_parsed_non_streaming(model, matrix, serve_config, server, call_id):
    _taught(model, matrix, serve_config)
    call = CALLS[call_id]
    response = _ask(server, model, call, stream=False)
    calls_equal_generated(tool_calls.parsed_calls(response), [{"name": call["name"], "arguments": call["arguments"]}],
                          call["reply"])


@pytest.mark.parametrize("call_id", list(CALLS))
def test_generated_call_streamed_equals_non_streaming(model, matrix, serve_config, server, call_id):
    _taught(model, matrix, serve_config)
    call = CALLS[call_id]
    whole = tool_calls.parsed_calls(_ask(server, model, call, stream=False))
    streamed = tool_calls.parsed_calls(_ask(server, model, call, stream=True))
    calls_equal_generated(streamed, [{"name": c["name"], "arguments": json.loads(c["arguments"])} for c in whole],
                          call["reply"])
