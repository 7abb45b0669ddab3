"""Parser-property checks pass on a correct parse and fail, naming the problem, on broken ones."""
import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import parser_properties as props
from lfm_conformance.parsers.parser_driver import StreamedCall

OUTPUT = '<|tool_call_start|>[f(a="x", b=true, c=None)]<|tool_call_end|>'
EXPECTED = [{"name": "f", "arguments": {"a": "x", "b": True, "c": None}}]
WHOLE = [{"name": "f", "arguments": '{"a": "x", "b": true, "c": null}'}]
CHUNKS = ["<|tool_call_start|>[f(a=", '"x", b=true, c=None)]<|tool_call_end|>']


def _streamed(**overrides):
    call = dict(index=0, ids=["call-1"], names=["f"], arguments='{"a": "x", "b": true, "c": null}')
    call.update(overrides)
    return [StreamedCall(**call)]


def test_correct_parse_passes():
    props.calls_equal_generated(WHOLE, EXPECTED, OUTPUT)
    props.streamed_calls_equal_non_streaming(_streamed(), WHOLE, OUTPUT, CHUNKS)
    props.no_markup_in("content", "Done.", OUTPUT)
    props.surrounding_text_is_content("Sure.\nDone.", "Sure. ", " Done.", OUTPUT)
    props.streamed_text_equals_non_streaming("content", "Done.", "Done.", OUTPUT, CHUNKS)
    props.reasoning_split_equals_generated("r", "a", "r", "a", "<think>r</think>a")


@pytest.mark.parametrize("calls, problem", [
    ([], "tool calls were not parsed"),
    ([{"name": "f", "arguments": '{"a": "x", "b": 1, "c": null}'}], "differ from the model's calls"),  # true -> 1
    ([{"name": "f", "arguments": '{"a": "x", "b": true, "c": null, "d": 1}'}], "differ from the model's calls"),
    ([{"name": "g", "arguments": '{"a": "x", "b": true, "c": null}'}], "differ from the model's calls"),
    ([{"name": "f", "arguments": '{"a": "x", "b": true'}], "not valid JSON"),
])
def test_broken_non_streaming_parse_fails(calls, problem):
    with pytest.raises(CheckFailed, match=problem):
        props.calls_equal_generated(calls, EXPECTED, OUTPUT)


@pytest.mark.parametrize("streamed, problem", [
    (_streamed(index=1), "indices are not 0..n-1"),
    ([], "different number of tool calls"),
    (_streamed(ids=[]), "exactly one id and one name"),
    (_streamed(names=["f", "f"]), "exactly one id and one name"),
    (_streamed(names=["g"]), "wrong name"),
    (_streamed(arguments='{"a": "x", "b": true, "c": null}}'), "not valid JSON"),  # a doubled closing brace
    (_streamed(arguments='{"a": "x", "b": true}'), "differ from non-streaming"),  # a dropped argument
    (_streamed(arguments='{"a": "x\\\\", "b": true, "c": null}'), "differ from non-streaming"),
])
def test_broken_stream_fails(streamed, problem):
    with pytest.raises(CheckFailed, match=problem):
        props.streamed_calls_equal_non_streaming(streamed, WHOLE, OUTPUT, CHUNKS)


@pytest.mark.parametrize("text", ["<|tool_call_start|>", "x<|tool_call_end|>", "<think>", "a</think>"])
def test_markup_in_content_fails(text):
    with pytest.raises(CheckFailed, match="markup leaked into content"):
        props.no_markup_in("content", text, OUTPUT, CHUNKS)


@pytest.mark.parametrize("content", [None, "Sure.", "Done.", "Done. Sure.", "Sure. [f(a=1)] Done."])
def test_surrounding_text_missing_or_extra_fails(content):
    with pytest.raises(CheckFailed, match="not returned as content"):
        props.surrounding_text_is_content(content, "Sure. ", " Done.", OUTPUT)


def test_streamed_text_differs_fails():
    with pytest.raises(CheckFailed, match="streamed content differs from the non-streaming content"):
        props.streamed_text_equals_non_streaming("content", "Sure.Done.", "Sure.\nDone.", OUTPUT, CHUNKS)


@pytest.mark.parametrize("reasoning, content", [("r", None), (None, "a"), ("", "ra"), ("<think>r", "a"), ("r", "</think>a")])
def test_wrong_reasoning_split_fails(reasoning, content):
    with pytest.raises(CheckFailed, match="reasoning/content split differs"):
        props.reasoning_split_equals_generated(reasoning, content, "r", "a", "<think>r</think>a")


def test_unsendable_delta_fails():
    props.deltas_serializable([], OUTPUT, CHUNKS)
    with pytest.raises(CheckFailed, match="cannot be serialized to JSON"):
        props.deltas_serializable(["{'content': '\\ud83d'}: surrogates not allowed"], OUTPUT, CHUNKS)


def test_a_failure_message_with_lone_surrogates_stays_writable():
    """A parser that emits lone surrogates must not break the report (pytest-xdist sends it as UTF-8)."""
    from lfm_conformance.checks import CheckFailed

    exc = CheckFailed("surrogates in arguments", '{"a": "😀"}', '{"a": "\ud83d\ude00"}')
    assert "\\ud83d\\ude00" in str(exc)
    str(exc).encode("utf-8")


def test_a_server_error_fails_served():
    import httpx
    import openai

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(500, request=request, json={"error": {"message": "surrogates not allowed"}})

    def broken():
        raise openai.InternalServerError("surrogates not allowed", response=response, body=None)

    with pytest.raises(CheckFailed, match="did not deliver the parsed message") as info:
        props.served(broken, "<|tool_call_start|>[a()]<|tool_call_end|>")
    assert "HTTP 500" in str(info.value) and "surrogates not allowed" in str(info.value)


def test_a_delivered_response_passes_served():
    assert props.served(lambda: {"choices": []}, "x") == {"choices": []}
