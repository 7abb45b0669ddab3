"""Recorded parser findings (suites/parser_findings.yaml): each minimal model output + chunking that
broke a parser property, replayed through the model's parsers as its server drives them. One test
function per finding (`test_parser_finding_<id>`), so suites/known_deviations.yaml marks each one a
strict expected failure of the vLLM versions it was found in: the day vLLM fixes it, it shows XPASS.
End to end (`test_parser_finding_<id>_end_to_end`): the CPU stand-ins are taught each tool-parser
finding's model output (fixtures/generated_calls.py), so the same checks run on what a real server
sends, streaming and not: whether a finding reaches users."""
import json

import pytest

from fixtures import generated_calls
from lfm_conformance.checks import parser_properties as props
from lfm_conformance.checks.tool_calls import message_of, parsed_calls, reassemble
from lfm_conformance.harness.streaming import chat_response, stream_chunks, with_step_metadata
from lfm_conformance.parsers import parser_findings as findings
from lfm_conformance.parsers import triggers
from lfm_conformance.parsers.generated_outputs import CALL_END, CALL_START, THINK_END, THINK_START

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
CAPABILITY = {"tools": "tools", "reasoning": "reasoning"}
THINKING = f"{THINK_START}ok{THINK_END}"
TRIES = 3  # streams asked before a served finding not exercised is NOT RUN


def _split_tool_output(text: str) -> tuple[str, str]:
    """(before, after) the call block, past a leading think block."""
    if THINK_END in text:
        text = text.split(THINK_END, 1)[1]
    return text.split(CALL_START, 1)[0], text.split(CALL_END, 1)[1]


def _split_reasoning_output(text: str) -> tuple[str, str]:
    reasoning, answer = text.split(THINK_END, 1)
    return reasoning.removeprefix(THINK_START), answer


def replay(finding: dict, parser) -> None:
    """The checks of the finding's property, on its recorded output and delta texts."""
    text, pieces = finding["model_output"], finding["delta_texts"]
    tools = TOOLS  # as the properties send them (suites/test_parser_properties.py)
    if finding["parser"] == "tools" and parser.reasoning_parser:  # served with a reasoning parser, the model thinks first
        pieces = [THINKING, *pieces]
        text = THINKING + text
    ids, sizes = parser.encode_pieces(pieces)
    whole = parser.non_streaming(ids, tools)
    streamed = parser.streaming(ids, sizes, tools)
    chunks = parser.delta_texts(ids, sizes, tools)
    prop = finding["property"]
    if prop == "test_tool_calls_parsed_equal_generated":
        props.calls_equal_generated(whole.calls, finding["expected_calls"], text)
    elif prop == "test_tool_calls_streamed_equal_non_streaming":
        props.deltas_serializable(streamed.unsendable, text, chunks)
        props.streamed_calls_equal_non_streaming(streamed.streamed, whole.calls, text, chunks)
        props.no_markup_in("streamed content", streamed.content, text, chunks)
    elif prop == "test_text_around_tool_calls_is_content":
        before, after = _split_tool_output(text)
        props.surrounding_text_is_content(whole.content, before, after, text)
        props.streamed_text_equals_non_streaming("content", streamed.content, whole.content, text, chunks)
    elif prop == "test_reasoning_split_equals_generated":
        reasoning, answer = _split_reasoning_output(text)
        props.reasoning_split_equals_generated(whole.reasoning, whole.content, reasoning, answer, text)
    elif prop == "test_reasoning_streamed_equals_non_streaming":
        props.streamed_text_equals_non_streaming("reasoning", streamed.reasoning, whole.reasoning, text, chunks)
        props.streamed_text_equals_non_streaming("content", streamed.content, whole.content, text, chunks)
        props.no_markup_in("streamed content", streamed.content, text, chunks)
    else:
        raise ValueError(f"{findings.FINDINGS_FILE}: finding {finding['id']}: unknown property {prop!r}")


def _finding_test(finding: dict):
    @pytest.mark.requires(CAPABILITY[finding["parser"]])
    def test(model, matrix, target, served_vllm):
        replay(finding, findings.serving_parser(model, matrix, target, served_vllm))

    test.__name__ = test.__qualname__ = findings.replay_test(finding["id"])
    test.__doc__ = f"{finding['property']}: {finding['check']} (expected {finding['expected']}; observed {finding['observed']})"
    return test


def _served(server, model, finding: dict, text: str, stream: bool) -> dict | list[dict]:
    """The server's response to the finding's prompt; streamed, its raw chunks, each chunk's tokens
    asked (they show where each engine step's delta ended: parsers/triggers.py)."""
    kwargs = dict(model=model.hf_id, messages=generated_calls.finding_prompt(finding), tools=finding["tools"],
                  temperature=0, max_tokens=256)
    client = server.client()
    if stream:
        return props.served(lambda: stream_chunks(client, **with_step_metadata(kwargs)), text)
    return props.served(lambda: chat_response(client, False, **kwargs), text)


def exercised_stream(ask, finding: dict, text: str, tries: int = TRIES) -> tuple[list[dict] | None, list[str]]:
    """The first of up to `tries` streams (`ask()` returns one's chunks) whose chunking exercised the
    finding, and what each try that did not showed. A stream that did not exercise it is never
    judged: the server merged the deltas the finding needs (it does under load)."""
    seen = []
    for _ in range(tries):
        chunks = ask()
        trigger = triggers.served(finding["id"], text, triggers.streamed_pieces(chunks))
        if trigger.reached:
            return chunks, seen
        seen.append(trigger.seen)
    return None, seen


def replay_served(finding: dict, text: str, whole: dict, streamed: dict | None) -> None:
    """The finding's property on the served non-streaming and streamed (reassembled) responses to
    the model output `text` (the finding's, after a think block for a thinking model); `streamed`
    None (no stream exercised the finding): the non-streaming part only."""
    prop = finding["property"]
    if prop == "test_tool_calls_parsed_equal_generated":
        props.calls_equal_generated(parsed_calls(whole), finding["expected_calls"], text)
        if streamed is not None:
            props.calls_equal_generated(parsed_calls(streamed), finding["expected_calls"], text)
    elif prop == "test_tool_calls_streamed_equal_non_streaming":
        if streamed is not None:
            expected = [{"name": c["name"], "arguments": json.loads(c["arguments"])} for c in parsed_calls(whole)]
            props.calls_equal_generated(parsed_calls(streamed), expected, text)
    elif prop == "test_text_around_tool_calls_is_content":
        before, after = _split_tool_output(text)
        content = message_of(whole)[0].get("content")
        props.surrounding_text_is_content(content, before, after, text)
        if streamed is not None:
            props.streamed_text_equals_non_streaming("content", message_of(streamed)[0].get("content"), content,
                                                     text, None)
    else:
        raise ValueError(f"{findings.FINDINGS_FILE}: finding {finding['id']}: no end-to-end replay for {prop!r}")


def replay_end_to_end(finding: dict, text: str, ask) -> None:
    """`ask(stream)`: the served response (streamed: its chunks). The non-streaming part is judged
    always; the streamed one only on a stream that exercised the finding, else the check is NOT RUN
    with what the tries showed (never PASS or XPASS for a behaviour the server did not exercise)."""
    whole = ask(False)  # first: a non-streaming failure is the finding's whole story
    chunks, seen = exercised_stream(lambda: ask(True), finding, text)
    replay_served(finding, text, whole, None if chunks is None else reassemble(chunks))
    if chunks is None:
        pytest.skip(f"not run: trigger not reached in {len(seen)} tries (streamed): " + " | ".join(seen))


def _end_to_end_test(finding: dict):
    @pytest.mark.requires("tools")
    def test(model, matrix, serve_config, server):
        reason = generated_calls.not_taught_reason(model, matrix, serve_config, styles=generated_calls.FINDING_STYLES)
        if reason:
            pytest.skip(reason)
        text = generated_calls.finding_output(finding, matrix, model)
        replay_end_to_end(finding, text, lambda stream: _served(server, model, finding, text, stream))

    test.__name__ = test.__qualname__ = f"{findings.replay_test(finding['id'])}_end_to_end"
    test.__doc__ = f"served: {finding['property']} (expected {finding['expected']})"
    return test


for _finding in findings.load():
    globals()[findings.replay_test(_finding["id"])] = _finding_test(_finding)
for _finding in generated_calls.findings():
    globals()[f"{findings.replay_test(_finding['id'])}_end_to_end"] = _end_to_end_test(_finding)
