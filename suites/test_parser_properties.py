"""Parser properties: vLLM's lfm2 tool parser and qwen3 reasoning parser, driven in-process exactly
as each model's server drives them (its flags, its tokenizer), on generated model outputs and every
kind of chunking into streamed deltas. No server. Budget: LFMC_HYPOTHESIS_PROFILE ("ci" by default:
deterministic, bounded; "deep": thousands of examples per property), LFMC_PROPERTY_EXAMPLES overrides.
Models whose servers run identical parsers and tokenizer (CPU models sharing a fixture) share one run.

A minimal failing example hypothesis finds is recorded in suites/parser_findings.yaml, replayed by
suites/test_parser_findings.py as a strict expected failure, and excluded here (only its input
class, lfm_conformance/parsers/parser_findings.py) so the properties keep hunting for new ones."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lfm_conformance.checks import parser_properties as props
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers import parser_findings as findings

# Requests carry a tool, as with the guide's combined command: the lfm2 parser then keeps special
# tokens in the text (skip_special_tokens=False), so tool-call markers inside reasoning stay visible.
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def _run(parser, text: str, data, tools):
    ids = parser.encode(text)
    sizes = data.draw(gen.chunk_sizes(len(ids)), label="chunk sizes")
    chunks = parser.delta_texts(ids, sizes, tools)
    return parser.non_streaming(ids, tools), parser.streaming(ids, sizes, tools), chunks


def _tool_output(prop, model, data, surrounding=True):
    thinking = "reasoning" in model.capabilities  # served with the reasoning parser: it thinks first
    out = data.draw(gen.tool_outputs(thinking=thinking, surrounding=surrounding), label="model output")
    findings.assume_not_recorded(prop, out)
    return out


def _reasoning_output(prop, data):
    out = data.draw(gen.reasoning_outputs(), label="model output")
    findings.assume_not_recorded(prop, out)
    return out


# -- tool calls ---------------------------------------------------------------------------------
@pytest.mark.requires("tools")
def test_tool_calls_parsed_equal_generated(model, matrix, target):
    """(a) Non-streaming: the parsed calls equal the generated calls, arguments as JSON."""
    parser = findings.serving_parser(model, matrix, target)

    @findings.property_settings
    @given(data=st.data())
    def tool_calls_parsed_equal_generated(data):
        out = _tool_output("test_tool_calls_parsed_equal_generated", model, data, surrounding=False)
        whole = parser.non_streaming(parser.encode(out.text), TOOLS)
        props.calls_equal_generated(whole.calls, out.expected_calls(), out.text)

    findings.run_once(tool_calls_parsed_equal_generated, parser, model.name)


@pytest.mark.requires("tools")
def test_tool_calls_streamed_equal_non_streaming(model, matrix, target):
    """(b) Any chunking: one id and name per call, indices 0..n-1, concatenated arguments valid
    JSON equal to the non-streaming ones, no call markup in content."""
    parser = findings.serving_parser(model, matrix, target)

    @findings.property_settings
    @given(data=st.data())
    def tool_calls_streamed_equal_non_streaming(data):
        out = _tool_output("test_tool_calls_streamed_equal_non_streaming", model, data)
        whole, streamed, chunks = _run(parser, out.text, data, TOOLS)
        props.deltas_serializable(streamed.unsendable, out.text, chunks)
        props.streamed_calls_equal_non_streaming(streamed.streamed, whole.calls, out.text, chunks)
        props.no_markup_in("streamed content", streamed.content, out.text, chunks)

    findings.run_once(tool_calls_streamed_equal_non_streaming, parser, model.name)


@pytest.mark.requires("tools")
def test_text_around_tool_calls_is_content(model, matrix, target):
    """(c) Text before and after the call block comes back as content, streamed or not."""
    parser = findings.serving_parser(model, matrix, target)

    @findings.property_settings
    @given(data=st.data())
    def text_around_tool_calls_is_content(data):
        out = _tool_output("test_text_around_tool_calls_is_content", model, data)
        whole, streamed, chunks = _run(parser, out.text, data, TOOLS)
        props.surrounding_text_is_content(whole.content, out.before, out.after, out.text)
        props.streamed_text_equals_non_streaming("content", streamed.content, whole.content, out.text, chunks)

    findings.run_once(text_around_tool_calls_is_content, parser, model.name)


# -- reasoning ----------------------------------------------------------------------------------
@pytest.mark.requires("reasoning")
def test_reasoning_split_equals_generated(model, matrix, target):
    """Non-streaming: reasoning is the text inside <think>...</think>, content the rest."""
    parser = findings.serving_parser(model, matrix, target)

    @findings.property_settings
    @given(data=st.data())
    def reasoning_split_equals_generated(data):
        out = _reasoning_output("test_reasoning_split_equals_generated", data)
        whole = parser.non_streaming(parser.encode(out.text), TOOLS)
        props.reasoning_split_equals_generated(whole.reasoning, whole.content, out.reasoning, out.answer, out.text)

    findings.run_once(reasoning_split_equals_generated, parser, model.name)


@pytest.mark.requires("reasoning")
def test_reasoning_streamed_equals_non_streaming(model, matrix, target):
    """Any chunking: streamed reasoning and content concatenate to the non-streaming split, no tags."""
    parser = findings.serving_parser(model, matrix, target)

    @findings.property_settings
    @given(data=st.data())
    def reasoning_streamed_equals_non_streaming(data):
        out = _reasoning_output("test_reasoning_streamed_equals_non_streaming", data)
        whole, streamed, chunks = _run(parser, out.text, data, TOOLS)
        props.streamed_text_equals_non_streaming("reasoning", streamed.reasoning, whole.reasoning, out.text, chunks)
        props.streamed_text_equals_non_streaming("content", streamed.content, whole.content, out.text, chunks)
        props.no_markup_in("streamed content", streamed.content, out.text, chunks)

    findings.run_once(reasoning_streamed_equals_non_streaming, parser, model.name)
