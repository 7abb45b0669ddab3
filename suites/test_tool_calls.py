"""Tool calls: every model whose matrix row has tools, served with --enable-auto-tool-choice
--tool-call-parser lfm2. Guide: "The built-in lfm2 tool parser converts these into standard OpenAI
tool_calls"; "Reasoning and tool calling can be combined for the reasoning models"."""
import pytest

from lfm_conformance.checks import tool_calls
from lfm_conformance.data import probes
from lfm_conformance.harness.streaming import chat_response

pytestmark = pytest.mark.requires("tools")
BOUND = 256  # bounds a derailed reply; taught replies end far earlier
WEATHER = {"get_weather": probes.tool_schema("get_weather")}


def _expected(probe_id, model, matrix, serve_config):
    """The calls the CPU stand-in emits; with real weights only names and schemas are checked."""
    if serve_config.target.weights != "fixture":
        return None
    return tool_calls.expected_calls(probes.reply(probe_id, matrix.fixtures[model.fixture]["teach"]))


def _chat(server, model, probe_id, stream=False, **extra):
    kwargs = dict(model=model.hf_id, **probes.chat(probe_id), **probes.sampling(model.preset, max_tokens=BOUND), **extra)
    return chat_response(server.client(), stream, **kwargs)


def test_tool_call_parsed_non_streaming(model, server):
    response = _chat(server, model, "weather")
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"],
                                 expected=[{"name": "get_weather", "arguments": {"location": "Paris"}}])


def test_tool_call_streaming_reassembles_to_valid_call(model, server):
    response = _chat(server, model, "weather", stream=True)
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"],
                                 expected=[{"name": "get_weather", "arguments": {"location": "Paris"}}])


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_parallel_tool_calls(model, server, stream):
    response = _chat(server, model, "parallel", stream=stream)
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather", "get_weather"])


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_argument_types_survive_parsing(model, server, matrix, serve_config, stream):
    """int, float, bool, None, nested dict, list, a string with quotes, commas and unicode."""
    response = _chat(server, model, "typed_arguments", stream=stream)
    tool_calls.tool_calls_parsed(response, {"create_event": probes.tool_schema("create_event")},
                                 names=["create_event"],
                                 expected=_expected("typed_arguments", model, matrix, serve_config))


def test_tool_result_round_trip_answer_in_content(model, server):
    tool_calls.answer_in_content(_chat(server, model, "weather_result"))


def test_tool_choice_auto_parses_call(model, server):
    response = _chat(server, model, "weather", tool_choice="auto")
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"])


def test_tool_choice_none_yields_no_tool_calls(model, server):
    tool_calls.no_tool_calls(_chat(server, model, "weather", tool_choice="none"))


def test_tool_choice_required_yields_call(model, server):
    response = _chat(server, model, "weather_required", tool_choice="required")
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"])


def test_tool_choice_named_function_yields_that_call(model, server):
    response = _chat(server, model, "weather_named",
                     tool_choice={"type": "function", "function": {"name": "get_weather"}})
    # The OpenAI API itself ends a forced named call with finish_reason "stop".
    tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"], finish_reasons=("stop", "tool_calls"))


def test_request_without_tools_never_yields_tool_calls(model, server):
    tool_calls.answer_in_content(_chat(server, model, "hello"))
