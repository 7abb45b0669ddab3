"""Exclusions of recorded parser findings are narrow and accounted: a class matches its mechanism
only (not text that looks like it), only for the check it breaks, only on the vLLM versions where its
finding reproduces (its replay test's known deviation); every excluded output counts; a property that
excluded any output fails naming the findings (more than 5%: saying so); the generators weigh no
finding's inputs down, reach every value kind at depths 0-3 and put stream boundaries inside numbers
and strings."""
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import parser_properties as props
from lfm_conformance.data import deviations
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers import parser_findings as findings

A, B, C = findings.A, findings.B, findings.C
ALL = frozenset(findings.INPUT_CLASSES)  # every recorded finding reproducing
# ... but the stop token's (0.26), which covers every output whose stop token shares its last delta
TOOL_TEXT = ALL - {"stop_token_streamed_as_text"}


def _first(options):
    return options[0]


def _output(arguments: dict, name: str = "f", before: str = "", after: str = "", choose=_first, forms=None):
    return gen.ToolOutput(before, (gen.call_of(name, arguments, choose, forms),), after)


def _example(out, cuts=()) -> findings.Example:
    return findings.Example(out, frozenset(cuts))


def _at(out, literal_text: str, offset: int) -> int:
    """The text offset `offset` characters into the first occurrence of `literal_text` in the block."""
    return out.text.index(literal_text, len(gen.CALL_START)) + offset


# -- narrow classes --------------------------------------------------------------------------------
@pytest.mark.parametrize("arguments, name", [
    ({"q": "1e5"}, "f"),                     # exponent text in a string value
    ({"q": {"2e3": 1}}, "f"),                # ... in an object key
    ({"e1": 1}, "api_v1e2"),                 # ... in a parameter and a function name
    ({"q": [1.5, -3.25, "4.5E+3"]}, "f"),    # plain decimals beside a string
])
def test_exponent_class_ignores_lookalikes(arguments, name):
    assert not findings.exponent_number(_example(_output(arguments, name)))


def test_exponent_class_matches_an_exponent_number_at_any_depth():
    for value in (1.5e16, [1.5e16], {"a": {"b": 1.5e16}}):
        assert findings.exponent_number(_example(_output({"x": value})))


def test_surrogate_class_ignores_an_escaped_backslash():
    raw = lambda options: options[-1]  # double quotes, backslashes doubled: \\ud83d is text  # noqa: E731
    assert not findings.surrogate_pair_escape(_example(_output({"q": "\\ud83d"}, choose=raw)))
    ascii_json = lambda options: options[1]  # json.dumps(ensure_ascii=True)  # noqa: E731
    assert findings.surrogate_pair_escape(_example(_output({"q": "😀"}, choose=ascii_json)))


def test_decimal_point_class_needs_a_boundary_right_after_the_point():
    out = _output({"loc": {"lat": 48.8566}})
    assert findings.decimal_cut_at_point(_example(out, [_at(out, "48.8566", 3)]))
    for offset in (1, 2, 4, 6):  # 4|8, 48|., 48.8|566, ...
        assert not findings.decimal_cut_at_point(_example(out, [_at(out, "48.8566", offset)]))
    text_out = _output({"q": "48.8566"})  # the same characters in a string
    assert not findings.decimal_cut_at_point(_example(text_out, [_at(text_out, "48.8566", 3)]))


def test_two_sided_text_is_excluded_only_from_the_content_comparison():
    ex = _example(_output({"a": 1}, before="Sure.", after="Done."))
    assert [fid for fid, _ in findings.classes_for(C, findings.STREAMED_CONTENT, ex, TOOL_TEXT)] == ["content_joined_with_newline"]
    assert findings.classes_for(C, "surrounding_text_is_content", ex, TOOL_TEXT) == []
    assert findings.classes_for(C, "surrounding_text_is_content[streamed]", ex, TOOL_TEXT) == []
    assert findings.classes_for(B, "streamed_calls_equal_non_streaming", ex, TOOL_TEXT) == []


def test_keyword_name_class_and_its_streamed_part():
    out = gen.ToolOutput("", (gen.call_of("f", {"and": 1, "x": 2}, _first), gen.call_of("g", {"y": 1, "from": 2}, _first)), "")
    assert findings.keyword_argument_name(_example(out)) == "and"
    assert findings.keyword_argument_name_after_start(_example(out)) == "from"  # not f's first argument
    first_only = _output({"and": 1, "x": 2})
    assert findings.keyword_argument_name(_example(first_only)) == "and"
    assert not findings.keyword_argument_name_after_start(_example(first_only))  # nothing streamed before it
    assert not findings.keyword_argument_name(_example(_output({"q": "and", "x": {"or": 1}}, name="f_and")))


def test_signed_number_class_is_a_number_literal_only():
    assert findings.signed_number(_example(_output({"x": {"t": -3.5}}))) == "-3.5"
    assert findings.signed_number(_example(_output({"n": 5}, forms={"n": gen.model_forms}, choose=lambda o: o[1]))) == "+5"
    for arguments in ({"q": "-3.5"}, {"q": {"-1": 1}}, {"e": 1e-06}, {"n": 0}):  # text, key, exponent sign
        assert not findings.signed_number(_example(_output(arguments))), arguments
    alone = _output({"t": -1, "u": 2})  # the first call's first value itself: streaming sends nothing before it
    assert findings.signed_number(_example(alone)) and not findings.signed_number_after_start(_example(alone))
    assert findings.signed_number_after_start(_example(_output({"s": "x", "t": -1}))) == "-1"
    assert findings.signed_number_after_start(_example(_output({"t": [1, -1]}))) == "-1"
    think = gen.ToolOutput("Sure.", (gen.call_of("f", {"t": -1}, _first),), "", thinking="hm")
    assert not findings.signed_number_after_start(_example(think))  # offsets past the think block and text


def test_string_character_classes_look_inside_string_literals_only():
    raw = lambda options: options[-1]  # double quotes, control characters raw  # noqa: E731
    assert findings.raw_line_break_in_string(_example(_output({"q": "x\ny"}, choose=raw)))
    assert findings.raw_line_break_in_string(_example(_output({"q": {"a\rb": 1}}, choose=raw)))
    assert not findings.raw_line_break_in_string(_example(_output({"q": "x\ny"})))  # JSON: escaped \n
    assert findings.backslash_before_quote(_example(_output({"q": "a\\"})))  # written "a\\": its closing quote
    assert findings.backslash_before_quote(_example(_output({"q": {"\\": None}})))
    for value in ("a\\b", 'say "hi"'):  # a backslash not before a quote, an escaped quote
        assert not findings.backslash_before_quote(_example(_output({"q": value}))), value
    assert not findings.backslash_before_quote(_example(_output({"q": "é"}, choose=lambda o: o[1])))  # "\u00e9"
    assert findings.bracket_in_string(_example(_output({"q": {")": None}}))) == '")"'
    assert findings.bracket_in_string(_example(_output({"q": "a[0]"})))
    assert not findings.bracket_in_string(_example(_output({"q": {"a": [1, {"b": 2}]}})))  # brackets of the code


def test_0_23_classes_cover_only_the_checks_they_break():
    ex = _example(_output({"s": "(", "and": -1}))
    ids = lambda prop, check: {fid for fid, _ in findings.classes_for(prop, check, ex, TOOL_TEXT)}  # noqa: E731
    assert ids(A, "calls_equal_generated") == {"keyword_argument_name", "negative_number_unparsed"}
    assert ids(B, "streamed_calls_equal_non_streaming") == {
        "keyword_argument_name_streamed", "negative_number_streamed_cut", "bracket_in_string_streamed"}
    assert ids(B, "deltas_serializable") == ids(B, "no_markup_in") == set()
    assert ids(C, "surrounding_text_is_content[streamed]") == set()


def test_stop_token_class_is_a_last_delta_shared_with_text():
    """0.26: the stop token's text is streamed when it arrives with text; alone in its delta, not."""
    out = gen.ReasoningOutput("r", "ok")
    end = len(out.text)
    R = "test_reasoning_streamed_equals_non_streaming"
    for cuts in ((), (3,), (end - 1,)):  # whole, cut early, the last token with the stop token
        assert [f for f, _ in findings.classes_for(R, "streamed_text_equals_non_streaming[content]", _example(out, cuts),
                                                   ALL)] == ["stop_token_streamed_as_text"], cuts
    assert findings.classes_for(R, "streamed_text_equals_non_streaming[content]", _example(out, (3, end)), ALL) == []
    assert findings.classes_for(R, "streamed_text_equals_non_streaming[content]", _example(out), ALL - {
        "stop_token_streamed_as_text"}) == []  # excluded only where it reproduces


# -- versions: a class excludes only where its finding reproduces ---------------------------------
def _known(version: str, *entries: tuple[str, str]) -> deviations.KnownDeviations:
    """Known deviations at `version`: (finding id, vllm range) of replay tests recorded as deviating."""
    return deviations.KnownDeviations([
        deviations.Deviation(f"dev-{fid}", findings.replay_test(fid), ("*",), None, vllm, "d", "o", "e")
        for fid, vllm in entries], version)


def test_a_finding_reproduces_where_its_replay_test_has_a_known_deviation():
    known = [("keyword_argument_name", "==0.23.*"), ("content_joined_with_newline", ">=0.23")]
    assert findings.reproducing(_known("0.23.0", *known), "LFM2.5-230M", "cpu") == {
        "keyword_argument_name", "content_joined_with_newline"}
    assert findings.reproducing(_known("0.32.0", *known), "LFM2.5-230M", "cpu") == {"content_joined_with_newline"}
    assert findings.reproducing(_known("0.32.0"), "LFM2.5-230M", "cpu") == frozenset()
    # the suite's own file: every deviation it names is a recorded finding's replay test
    assert findings.reproducing(deviations.load(vllm_version="0.23.0"), "LFM2.5-230M", "cpu") <= ALL


def test_a_class_excludes_nothing_where_its_finding_does_not_reproduce():
    ex = _example(_output({"and": 1}))
    assert findings.classes_for(A, "calls_equal_generated", ex, {"keyword_argument_name"})
    assert findings.classes_for(A, "calls_equal_generated", ex, {"content_joined_with_newline"}) == []
    tally = findings.Tally(A, frozenset({"content_joined_with_newline"}))  # 0.32: keyword names parse
    tally.begin(ex.output.text)
    with pytest.raises(CheckFailed, match="broken"):  # a failure there is a new one: raised
        props.checked(tally, "calls_equal_generated", ex, _fail)
    assert tally.excluded_outputs == 0


# -- accounting and the verdict --------------------------------------------------------------------
def _fail():
    raise CheckFailed("broken", "e", "o")


def test_a_failure_in_class_is_counted_and_one_outside_is_raised():
    tally = findings.Tally(C, ALL)
    two_sided = _example(_output({"a": 1}, before="Sure.", after="Done."))
    tally.begin(two_sided.output.text)
    assert props.checked(tally, findings.STREAMED_CONTENT, two_sided, lambda: None)  # passes: checked
    assert not props.checked(tally, findings.STREAMED_CONTENT, two_sided, _fail)
    with pytest.raises(CheckFailed, match="broken"):
        props.checked(tally, "surrounding_text_is_content", two_sided, _fail)
    assert tally.counts() == {"content_joined_with_newline": 1} and tally.excluded_outputs == 1


def test_every_excluded_output_counts_however_alike():
    tally = findings.Tally(B, ALL)
    for n in range(3):  # hypothesis mutates one failing input into near-duplicates: each is unchecked
        out = _output({"q": {"r": 1.5e16}, "n": n})
        tally.begin(out.text)
        props.checked(tally, "streamed_calls_equal_non_streaming", _example(out), _fail)
    assert tally.generated == 3 and tally.excluded_outputs == 3
    assert tally.counts() == {"float_exponent_streamed": 3}
    assert tally.witnesses["float_exponent_streamed"] == {"1.5e+16"}


def _tally(excluded: dict[str, int], generated: int = 100) -> findings.Tally:
    """A property's tally: `generated` outputs, the first n of them excluded per finding."""
    outputs = [f"output {n}" for n in range(generated)]
    tally = findings.Tally(B, frozenset(excluded), outputs=set(outputs))
    for fid, n in excluded.items():
        tally.excluded[fid], tally.witnesses[fid] = set(outputs[:n]), {f"w{fid}"}
        tally.excluded_texts |= set(outputs[:n])
    return tally


def test_a_property_that_excluded_nothing_passes():
    props.nothing_excluded(_tally({}))


def test_a_property_that_excluded_outputs_fails_naming_exactly_the_findings():
    with pytest.raises(CheckFailed) as info:
        props.nothing_excluded(_tally({"float_exponent_streamed": 2, "decimal_cut_at_point_streamed": 5}))
    problem = info.value.problem
    assert problem == (f"{B} excluded 5 of 100 generated outputs (5.0%) for recorded findings: "
                       "decimal_cut_at_point_streamed 5 (5.0%), float_exponent_streamed 2 (2.0%)"), problem
    assert "float_exponent_streamed: 2 outputs (2.0%), e.g. 'wfloat_exponent_streamed'" in info.value.observed


@pytest.mark.parametrize("excluded, over", [(5, False), (6, True)])
def test_more_than_five_percent_excluded_says_so_with_the_figure(excluded, over):
    with pytest.raises(CheckFailed) as info:
        props.nothing_excluded(_tally({"float_exponent_streamed": excluded}))
    problem = info.value.problem
    assert f"({excluded}.0%{', more than 5%' if over else ''}) for recorded findings: float_exponent_streamed" \
        in problem, problem


def test_figures_name_the_property_counts_and_coverage():
    tally = findings.Tally(B)
    out = _output({"x": {"y": {"z": 2.5}}})
    tally.begin(out.text)
    tally.cover(_example(out, [_at(out, "2.5", 1)]))
    tally.end()
    figures = tally.figures()
    assert figures["kind"] == "parser_property" and figures["generated"] == 1 and figures["checked"] == 1
    assert {"kind": "decimal", "depth": 2, "boundary_inside": True, "examples": 1} in figures["coverage"]
    assert any("decimal" in line for line in findings.coverage_table("t", tally.coverage))


# -- generators ------------------------------------------------------------------------------------
_SETTINGS = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_generators_weigh_no_kind_down():
    """Natural weights: each choice among kinds of scalar, argument styles, sides of the block with
    text and edge whitespace offers each option once (no finding's inputs kept rare), and the extreme
    arguments are spelled every way (all_forms: a surrogate-pair escape 1 in 4 for an emoji)."""
    kinds = gen.model_scalars.original_strategies
    assert len(kinds) == len(set(map(repr, kinds))) == 6, kinds
    for choice in (gen.argument_styles, gen._sides, gen._edge_space):
        assert len(choice.elements) == len(set(choice.elements)), choice.elements
    assert not hasattr(gen, "extreme_forms")


def test_generators_reach_every_value_kind_at_depths_0_to_3():
    seen = set()
    for depth in range(gen.MAX_DEPTH + 1):
        @settings(_SETTINGS, max_examples=200)
        @given(gen.model_values(depth), st.data())
        def collect(value, data):
            call = gen.call_of("f", {"a": value}, lambda options: data.draw(st.sampled_from(options)),
                               {"a": gen.model_forms})
            seen.update((lit.kind, lit.depth) for lit in call.literals)

        collect()
    wanted = {(kind, depth) for kind in gen.KINDS for depth in range(gen.MAX_DEPTH + 1) if kind != "key" or depth}
    assert wanted <= seen, sorted(wanted - seen)


def test_literals_are_where_the_text_spells_them():
    @_SETTINGS
    @given(gen.tool_outputs(thinking=True))
    def check(out):
        for lit in out.literals():
            text = out.text[lit.start:lit.end]
            if lit.kind in gen.NUMBER_KINDS:
                float(text)
            elif lit.kind in gen.STRING_KINDS:
                assert text[0] in "\"'" and text[-1] == text[0], text

    check()


def test_chunkings_cut_inside_numbers_and_strings():
    """Every text chunking cuts only inside or at the edges of literals (any example hypothesis
    draws); and on a call holding every kind, each text mode puts a boundary inside numbers and
    strings (found by hypothesis.find: deterministic, whatever the example budget)."""
    @_SETTINGS
    @given(st.data())
    def text_cuts_are_inside_literals(data):
        out = data.draw(gen.tool_outputs())
        literals = out.literals()
        chunking = data.draw(gen.chunkings(10, literals))
        pieces = gen.split_at(out.text, chunking.cuts) if chunking.cuts else [out.text]
        assert "".join(pieces) == out.text
        if chunking.mode in gen.TEXT_MODES:
            assert all(any(lit.start <= c <= lit.end for lit in literals) for c in chunking.cuts), chunking
        if chunking.mode == "literal_chars":  # every position inside every literal
            cuts = gen.boundaries(pieces)
            assert all(p in cuts for lit in literals for p in range(lit.start + 1, lit.end))

    text_cuts_are_inside_literals()
    call = gen.call_of("f", {"n": 1234, "x": 48.8566, "s": "Tokyo", "d": {"lat": -3.5}},
                       lambda options: options[0], {k: gen.model_forms for k in "nxsd"})
    literals = list(call.literals)
    kinds = {lit.kind for lit in literals}
    assert {"int", "decimal", "string", "key"} <= kinds, kinds
    for mode in gen.TEXT_MODES:
        chunking = find(gen.chunkings(10, literals), lambda c, mode=mode: c.mode == mode,
                        settings=settings(database=None, derandomize=True))
        inside = {lit.kind for lit in literals if lit.cut_inside(frozenset(chunking.cuts))}
        assert inside & set(gen.NUMBER_KINDS) or mode == "literal_cut", (mode, inside)
        assert inside, (mode, chunking)
    chars = find(gen.chunkings(10, literals), lambda c: c.mode == "literal_chars",
                 settings=settings(database=None, derandomize=True))
    assert {lit.kind for lit in literals if lit.cut_inside(frozenset(chars.cuts))} >= {"int", "decimal", "string", "key"}
