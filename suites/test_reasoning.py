"""Reasoning split: LFM2.5-1.2B-Thinking and LFM2.5-8B-A1B served with --reasoning-parser qwen3.
Guide: "emit an explicit <think>…</think> chain-of-thought. Launch with the qwen3 reasoning parser to
split it into a separate reasoning_content field"; "a trivial prompt may be answered directly, in
which case reasoning_content is empty"; "Leave max_tokens unset — capping it truncates the reasoning
models' chain-of-thought"."""
import pytest

from lfm_conformance.checks import reasoning, tool_calls
from lfm_conformance.data import probes
from lfm_conformance.harness.streaming import chat_response

pytestmark = pytest.mark.requires("reasoning")
BOUND = 256


def _chat(server, model, probe_id, stream=False, **overrides):
    overrides.setdefault("max_tokens", BOUND)
    kwargs = dict(model=model.hf_id, **probes.chat(probe_id), **probes.sampling(model.preset, **overrides))
    return chat_response(server.client(), stream, **kwargs)


def _split_as_written(response, model, matrix, serve_config) -> None:
    """The split itself: thinking in a reasoning field, the answer in content (exactly the taught
    reply's parts where the output is known: the CPU stand-ins)."""
    reasoning.reasoning_split(response)
    if serve_config.target.weights == "fixture":
        reasoning.split_equals(response, *reasoning.taught_split(
            probes.reply("train_speed", matrix.fixtures[model.fixture]["teach"])))


def test_reasoning_split_from_answer(model, matrix, serve_config, server):
    _split_as_written(_chat(server, model, "train_speed"), model, matrix, serve_config)


def test_reasoning_in_documented_field(model, matrix, serve_config, server):
    """The split lands in the documented field; checked after the split itself, so a broken split
    is never reported as the (known) field rename."""
    response = _chat(server, model, "train_speed")
    _split_as_written(response, model, matrix, serve_config)
    reasoning.reasoning_in_documented_field(response)


def test_streaming_deltas_concatenate_to_non_streaming_result(model, server):
    greedy = dict(temperature=0, seed=0)
    reasoning.stream_matches(_chat(server, model, "train_speed", stream=True, **greedy),
                             _chat(server, model, "train_speed", **greedy))


def test_trivial_prompt_answered_directly_with_empty_reasoning(model, server):
    reasoning.direct_answer(_chat(server, model, "trivial"))


def test_reasoning_combined_with_tool_call(model, server):
    response = _chat(server, model, "weather")
    tool_calls.tool_calls_parsed(response, {"get_weather": probes.tool_schema("get_weather")}, names=["get_weather"])
    reasoning.reasoning_split_before_tool_call(response)


def test_tool_call_without_thinking_first_is_parsed(model, server):
    response = _chat(server, model, "weather_unthought")
    tool_calls.tool_calls_parsed(response, {"get_weather": probes.tool_schema("get_weather")}, names=["get_weather"])


def test_max_tokens_unset_is_honoured(model, server):
    """No max_tokens: the reply runs to its natural end (finish_reason stop), answer intact."""
    kwargs = dict(model=model.hf_id, **probes.chat("train_speed"), **probes.sampling(model.preset))
    response = server.client(timeout=300).chat.completions.create(**kwargs).model_dump()
    reasoning.finish_reason(response, "stop")
    reasoning.reasoning_split(response)


def test_small_max_tokens_reports_length(model, server):
    reasoning.finish_reason(_chat(server, model, "train_speed", max_tokens=4), "length")
