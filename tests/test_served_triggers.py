"""A served parser finding is judged only on a stream that exercised it (parsers/triggers.py): the
model output read back into calls and literals (parsers/read_outputs.py), the chunking read from the
stream's logprobs, the finding's input class asked about both; a stream whose deltas merged what the
finding needs is NOT RUN, never PASS or XPASS."""
import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from lfm_conformance.checks import CheckFailed
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers import parser_findings as findings
from lfm_conformance.parsers import triggers
from lfm_conformance.parsers.read_outputs import tool_output
from suites import test_parser_findings as suite

DECIMAL = next(f for f in findings.load() if f["id"] == "decimal_cut_at_point_streamed")
TEXT = DECIMAL["model_output"]
ARGS = json.dumps({"a": {"lat": [{"lat": 0.1}]}})


def _merged(pieces: list[str], merge: str) -> list[str]:
    """The recorded one-token-per-delta pieces with the tokens spelling `merge` sent as one delta."""
    text = "".join(pieces)
    start = text.index(merge)
    out, pos = [], 0
    for piece in pieces:
        if start <= pos < start + len(merge) and out and pos > start:
            out[-1] += piece
        else:
            out.append(piece)
        pos += len(piece)
    return out


def _stream(pieces: list[str], arguments: str) -> list[dict]:
    """A recorded-shape stream: one chunk per engine step with its tokens' logprobs; the call in
    the last step (as the lfm2 parser sends it at the block's end)."""
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for n, piece in enumerate(pieces):
        delta = {}
        if n == len(pieces) - 1:
            delta = {"tool_calls": [{"index": 0, "id": "call_0", "type": "function",
                                     "function": {"name": "a", "arguments": arguments}}]}
        chunks.append({"choices": [{"index": 0, "delta": delta,
                                    "logprobs": {"content": [{"token": piece, "logprob": 0.0}]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls",
                                "logprobs": {"content": [{"token": "<|im_end|>", "logprob": 0.0}]}}]})
    return chunks


def _whole(arguments: str = ARGS) -> dict:
    return {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "a", "arguments": arguments}}]}}]}


def _ask(stream_pieces: list[str], streamed_args: str):
    return lambda stream: _stream(stream_pieces, streamed_args) if stream else _whole()


def test_merged_literal_is_not_run_not_xpass():
    """The server merged "0", "." and "1" into one delta (as under load): the streamed arguments are
    right, but the finding was not exercised: NOT RUN naming what the tries saw."""
    merged = _merged(DECIMAL["delta_texts"], "0.1")
    assert "0.1" in merged
    with pytest.raises(pytest.skip.Exception, match=r"^not run: trigger not reached in 3 tries .*'0\.1'"):
        suite.replay_end_to_end(DECIMAL, TEXT, _ask(merged, ARGS))


def test_cut_before_the_point_only_is_not_run():
    merged = _merged(DECIMAL["delta_texts"], ".1")  # "0" | ".1": no delta ends at the point
    with pytest.raises(pytest.skip.Exception, match="did not cut the output where"):
        suite.replay_end_to_end(DECIMAL, TEXT, _ask(merged, ARGS))


def test_exercised_stream_is_judged_both_ways():
    """A delta ending at the point: the corrupted arguments fail the check (DEV on an affected
    version), the right ones pass (XPASS there: the fix is real, it was exercised)."""
    cut = _merged(DECIMAL["delta_texts"], "0.")  # "0." | "1": the cut the finding needs
    with pytest.raises(CheckFailed, match="differ from the model's calls"):
        suite.replay_end_to_end(DECIMAL, TEXT, _ask(cut, json.dumps({"a": {"lat": [{"lat": 0.0}]}})))
    suite.replay_end_to_end(DECIMAL, TEXT, _ask(DECIMAL["delta_texts"], ARGS))


def test_a_later_try_that_exercises_the_finding_is_judged():
    streams = iter([_stream(_merged(DECIMAL["delta_texts"], "0.1"), ARGS),
                    _stream(DECIMAL["delta_texts"], json.dumps({"a": {"lat": [{"lat": 0.0}]}}))])
    with pytest.raises(CheckFailed):
        suite.replay_end_to_end(DECIMAL, TEXT, lambda stream: next(streams) if stream else _whole())


def test_a_stream_without_logprobs_or_other_tokens_is_not_run():
    assert not triggers.served(DECIMAL["id"], TEXT, None).reached
    other = triggers.served(DECIMAL["id"], TEXT, ["<|tool_call_start|>", "[b()]", "<|tool_call_end|>"])
    assert not other.reached and "do not spell the taught output" in other.seen
    no_logprobs = [{"choices": [{"index": 0, "delta": {"content": "x"}}]}]
    assert triggers.streamed_pieces(no_logprobs) is None


def test_chunking_independent_findings_are_exercised_by_any_chunking():
    """A finding whose mechanism does not depend on where deltas end (text after the block that
    starts with "[") is exercised by one delta as by many."""
    finding = next(f for f in findings.load() if f["id"] == "trailing_bracket_text_dropped")
    text = finding["model_output"]
    assert triggers.served(finding["id"], text, [text]).reached
    assert triggers.served(finding["id"], text, finding["delta_texts"]).reached


def test_every_recorded_tool_finding_is_exercised_by_its_recorded_chunking():
    """Each recorded tool-parser finding, with its own recorded deltas (after the think block a
    thinking stand-in writes first), is exercised: the reader reads every recorded output."""
    for finding in findings.load():
        if finding["parser"] != "tools":
            continue
        for prefix in ("", "<think>Run it.</think>"):
            pieces = [prefix, *finding["delta_texts"]] if prefix else finding["delta_texts"]
            trigger = triggers.served(finding["id"], prefix + finding["model_output"], pieces)
            assert trigger.reached, (finding["id"], prefix, trigger.seen)


@settings(max_examples=80, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(gen.tool_outputs(thinking=True))
def test_reader_reads_back_what_the_generators_write(out):
    """Any generated output is read back to the same calls and literals (kind, depth, place), or
    refused (None) only for text Python's parser cannot hold (a NUL character)."""
    read = tool_output(out.text)
    if read is None:
        assert "\x00" in out.text, out.text
        return
    assert read.literals() == out.literals()
    assert [gen.canonical(c) for c in read.expected_calls()] == [gen.canonical(c) for c in out.expected_calls()]


def test_reader_refuses_what_is_not_one_call_block():
    assert tool_output("no call here") is None
    assert tool_output("<|tool_call_start|>[a()]<|tool_call_end|><|tool_call_start|>[b()]<|tool_call_end|>") is None
    assert tool_output("<|tool_call_start|>[a(1)]<|tool_call_end|>") is None  # positional
    assert tool_output("<|tool_call_start|>[a(),b()]<|tool_call_end|>") is None  # not the ", " layout
    out = tool_output('<|tool_call_start|>[a(and={"lat": -3.5})]<|tool_call_end|>')
    assert out.calls[0].arguments == {"and": {"lat": -3.5}}
    assert [(lit.kind, lit.depth) for lit in out.literals()] == [("key", 1), ("decimal", 1)]
