"""Parser properties: vLLM's lfm2 tool parser and qwen3 reasoning parser, driven in-process exactly
as each model's server drives them (its flags, its tokenizer), on generated model outputs and every
kind of chunking into streamed deltas (the real tokenizer's tokens, or boundaries anywhere inside the
call's numbers and strings). No server. Budget: LFMC_HYPOTHESIS_PROFILE ("ci" by default:
deterministic, bounded; "deep": thousands of examples per property), LFMC_PROPERTY_EXAMPLES overrides.
Models whose servers run identical parsers and tokenizer (CPU models sharing a fixture) share one run.

A minimal failing example hypothesis finds is recorded in suites/parser_findings.yaml, replayed by
suites/test_parser_findings.py as a strict expected failure. Here only its mechanism is excluded, and
only on the vLLM versions where it reproduces (its replay test's known deviation): a failure of the
check it breaks on an example of its input class (lfm_conformance/parsers/parser_findings.py), counted
per finding in excluded outputs (hypothesis events, the test's "figures"). The examples keep the
generator's own weights, so the counts are the findings' true rates. A property that excluded any
output is broken here by those findings: it fails naming them (a known deviation naming exactly them
marks it DEV), and says so when it excluded more than 5% of its generated outputs. The terminal
summary shows the counts and, for the streamed arguments, the coverage table (value kind x depth x
boundary inside the literal)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lfm_conformance.checks import parser_properties as props
from lfm_conformance.harness import plugin
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers import parser_findings as findings

# Requests carry a tool, as with the guide's combined command: the lfm2 parser then keeps special
# tokens in the text (skip_special_tokens=False), so tool-call markers inside reasoning stay visible.
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


class _Summary:
    """Prints what each property checked and excluded, and the coverage table, at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter):
        lines = findings.summary_lines()
        if lines:
            terminalreporter.write_sep("=", f"parser properties (profile {findings.PROFILE})")
            for line in lines:
                terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    name = "lfm-conformance-parser-properties-summary"
    if not request.config.pluginmanager.has_plugin(name):
        request.config.pluginmanager.register(_Summary(), name)


def _run(parser, out, data, tools):
    """Non-streaming and streamed parses of the output under a drawn chunking, and the example
    (the output with the offsets where its deltas end)."""
    ids = parser.encode(out.text)
    literals = out.literals() if isinstance(out, gen.ToolOutput) else ()
    chunking = data.draw(gen.chunkings(len(ids), literals), label="chunking")
    if chunking.cuts:
        ids, sizes = parser.encode_pieces(gen.split_at(out.text, chunking.cuts))
    else:
        sizes = list(chunking.sizes)
    chunks = parser.delta_texts(ids, sizes, tools)
    example = findings.Example(out, gen.boundaries(chunks))
    return parser.non_streaming(ids, tools), parser.streaming(ids, sizes, tools), chunks, example


def _output(strategy, data, tally):
    out = data.draw(strategy, label="model output")
    tally.begin(out.text)
    return out


def _tool_output(model, data, tally, surrounding=True):
    thinking = "reasoning" in model.capabilities  # served with the reasoning parser: it thinks first
    return _output(gen.tool_outputs(thinking=thinking, surrounding=surrounding), data, tally)


@pytest.fixture
def run_property(request, model, matrix, target, served_vllm, record_property):
    """`run(name, body)`: the property `body(parser, data, tally)` run once per parser configuration
    and set of findings reproducing here; records its figures, then fails it when it excluded any
    output (checks.parser_properties.nothing_excluded)."""
    def run(name: str, body) -> None:
        parser = findings.serving_parser(model, matrix, target, served_vllm)
        found_here = findings.reproducing(plugin.run_state(request.config).known, model.name, target)
        tally = findings.tally(name, parser, model.name, found_here)

        @findings.property_settings
        @given(data=st.data())
        def prop(data):
            body(parser, data, tally)
            tally.end()

        prop.__name__ = name.removeprefix("test_")
        try:
            findings.run_once(prop, parser, model.name, found_here)
        finally:
            record_property("figures", tally.figures())
        props.nothing_excluded(tally)

    return run


# -- tool calls ---------------------------------------------------------------------------------
@pytest.mark.requires("tools")
def test_tool_calls_parsed_equal_generated(model, run_property):
    """(a) Non-streaming: the parsed calls equal the generated calls, arguments as JSON."""
    def body(parser, data, tally):
        out = _tool_output(model, data, tally, surrounding=False)
        whole = parser.non_streaming(parser.encode(out.text), TOOLS)
        props.checked(tally, "calls_equal_generated", findings.Example(out),
                      lambda: props.calls_equal_generated(whole.calls, out.expected_calls(), out.text))

    run_property("test_tool_calls_parsed_equal_generated", body)


@pytest.mark.requires("tools")
def test_tool_calls_streamed_equal_non_streaming(model, run_property):
    """(b) Any chunking: one id and name per call, indices 0..n-1, concatenated arguments valid
    JSON equal to the non-streaming ones, no call markup in content."""
    def body(parser, data, tally):
        out = _tool_output(model, data, tally)
        whole, streamed, chunks, example = _run(parser, out, data, TOOLS)
        props.checked(tally, "deltas_serializable", example,
                      lambda: props.deltas_serializable(streamed.unsendable, out.text, chunks))
        if props.checked(tally, "streamed_calls_equal_non_streaming", example,
                         lambda: props.streamed_calls_equal_non_streaming(streamed.streamed, whole.calls, out.text,
                                                                          chunks)):
            tally.cover(example)
        props.checked(tally, "no_markup_in", example,
                      lambda: props.no_markup_in("streamed content", streamed.content, out.text, chunks))

    run_property("test_tool_calls_streamed_equal_non_streaming", body)


@pytest.mark.requires("tools")
def test_text_around_tool_calls_is_content(model, run_property):
    """(c) Text before and after the call block comes back as content, streamed or not."""
    def body(parser, data, tally):
        out = _tool_output(model, data, tally)
        whole, streamed, chunks, example = _run(parser, out, data, TOOLS)
        props.checked(tally, "surrounding_text_is_content", example,
                      lambda: props.surrounding_text_is_content(whole.content, out.before, out.after, out.text))
        props.checked(tally, "surrounding_text_is_content[streamed]", example,
                      lambda: props.surrounding_text_is_content(streamed.content, out.before, out.after, out.text,
                                                                chunks))
        props.checked(tally, findings.STREAMED_CONTENT, example,
                      lambda: props.streamed_text_equals_non_streaming("content", streamed.content, whole.content,
                                                                       out.text, chunks))

    run_property("test_text_around_tool_calls_is_content", body)


# -- reasoning ----------------------------------------------------------------------------------
@pytest.mark.requires("reasoning")
def test_reasoning_split_equals_generated(model, run_property):
    """Non-streaming: reasoning is the text inside <think>...</think>, content the rest."""
    def body(parser, data, tally):
        out = _output(gen.reasoning_outputs(), data, tally)
        whole = parser.non_streaming(parser.encode(out.text), TOOLS)
        props.checked(tally, "reasoning_split_equals_generated", findings.Example(out),
                      lambda: props.reasoning_split_equals_generated(whole.reasoning, whole.content, out.reasoning,
                                                                     out.answer, out.text))

    run_property("test_reasoning_split_equals_generated", body)


@pytest.mark.requires("reasoning")
def test_reasoning_streamed_equals_non_streaming(model, run_property):
    """Any chunking: streamed reasoning and content concatenate to the non-streaming split, no tags."""
    def body(parser, data, tally):
        out = _output(gen.reasoning_outputs(), data, tally)
        whole, streamed, chunks, example = _run(parser, out, data, TOOLS)
        for field in ("reasoning", "content"):
            props.checked(tally, f"streamed_text_equals_non_streaming[{field}]", example,
                          lambda: props.streamed_text_equals_non_streaming(field, getattr(streamed, field),
                                                                           getattr(whole, field), out.text, chunks))
        props.checked(tally, "no_markup_in", example,
                      lambda: props.no_markup_in("streamed content", streamed.content, out.text, chunks))

    run_property("test_reasoning_streamed_equals_non_streaming", body)
