"""Parser findings: minimal failing examples the parser properties found against a vLLM version
(suites/parser_findings.yaml), the input class each one stands for (its exact mechanism: the checks
it breaks and the examples it covers; only a failure of such a check on such an example is excluded,
so the properties keep hunting), the versions where each one reproduces (its replay test's known
deviation: a class excludes nothing elsewhere), the accounting of what each property checked and
excluded, and the shared settings and per-model parser of the properties."""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, settings
from hypothesis.control import currently_in_test_context

from lfm_conformance.data import deviations, owners, schema
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers.parser_driver import ServingParser, unsupported_reason, weights_path

FINDINGS_FILE = Path(__file__).resolve().parents[2] / "suites" / "parser_findings.yaml"
PROFILES = {
    # README test command: deterministic, bounded (each example parses the output once whole and
    # once per delta).
    "ci": dict(max_examples=int(os.environ.get("LFMC_PROPERTY_EXAMPLES", "100"))),
    "deep": dict(max_examples=int(os.environ.get("LFMC_PROPERTY_EXAMPLES", "3000"))),
}
PROFILE = os.environ.get("LFMC_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in PROFILES:
    raise ValueError(f"LFMC_HYPOTHESIS_PROFILE={PROFILE!r}; allowed values: {', '.join(PROFILES)}")
property_settings = settings(
    **PROFILES[PROFILE], derandomize=True, deadline=None, database=None, print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])

SCHEMA = schema.records(["id", "parser", "property", "check", "owner", "model_output", "delta_texts", "expected",
                         "observed"], {
    "id": {"type": "string", "pattern": "^[a-z0-9_]+$"},
    "parser": {"enum": ["tools", "reasoning"]},
    "property": {"type": "string", "pattern": "^test_"},
    "check": {"type": "string"},
    "owner": owners.SCHEMA,  # whose finding it is (lfm_conformance/data/owners.py)
    "model_output": {"type": "string"},
    "delta_texts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "expected": {"type": "string"},
    "observed": {"type": "string"},
    "expected_calls": {"type": "array"},  # replaying test_tool_calls_parsed_equal_generated
    "note": {"type": "string"},
})


def load(path: Path = FINDINGS_FILE) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    schema.check(data, SCHEMA, path)
    for entry in data:
        if "".join(entry["delta_texts"]) != entry["model_output"]:
            raise ValueError(f"{path}: finding {entry['id']}: delta_texts do not concatenate to model_output")
        if entry["id"] not in INPUT_CLASSES:
            raise ValueError(f"{path}: finding {entry['id']}: no input class in {__name__}.INPUT_CLASSES; "
                             f"allowed values: {', '.join(INPUT_CLASSES)}")
        if entry["property"] not in INPUT_CLASSES[entry["id"]].breaks:
            raise ValueError(f"{path}: finding {entry['id']}: its input class excludes nothing from "
                             f"{entry['property']}")
    unrecorded = set(INPUT_CLASSES) - {entry["id"] for entry in data}
    if unrecorded:
        raise ValueError(f"{path}: input classes {sorted(unrecorded)} are excluded from the properties "
                         f"but have no recorded finding")
    return data


# -- input classes of the recorded findings ------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """A generated output as a property saw it: the output and, streamed, where its deltas end."""
    output: object  # gen.ToolOutput | gen.ReasoningOutput
    boundaries: frozenset[int] = frozenset()  # text offsets where one delta ends (gen.boundaries)


@dataclass(frozen=True)
class InputClass:
    """The exact mechanism of a recorded finding: the checks it breaks (per property) and which
    examples it stands for. Only a failure of one of those checks on such an example is excluded.
    `applies` returns the example's witness (the offending literal or text), or None."""
    breaks: dict[str, tuple[str, ...]]  # property -> check names
    applies: Callable[[Example], str | None]


# A JSON \uD8xx-\uDBxx escape (the first half of a surrogate pair), not itself escaped (\\ud83d is text).
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}")


def _literal_texts(example: Example, kinds) -> list[tuple[gen.Literal, str]]:
    text = example.output.text
    return [(lit, text[lit.start:lit.end]) for lit in example.output.literals() if lit.kind in kinds]


def _first(texts) -> str | None:
    return next(iter(texts), None)


def surrogate_pair_escape(example: Example) -> str | None:
    """A string or key spelled with JSON's surrogate-pair escapes (an emoji as json.dumps(ensure_ascii=True))."""
    return _first(text for _, text in _literal_texts(example, gen.STRING_KINDS) if _SURROGATE_ESCAPE.search(text))


def content_on_both_sides(example: Example) -> str | None:
    """Text both before and after the call block (non-streaming joins the two with a newline)."""
    out = example.output
    return f"{out.before!r} ... {out.after!r}" if out.before.strip() and out.after.strip() else None


def whitespace_around_block(example: Example) -> str | None:
    """Whitespace at an edge of the text before or after the block (non-streaming strips it)."""
    out = example.output
    return f"{out.before!r} ... {out.after!r}" if out.before != out.before.strip() or out.after != out.after.strip() \
        else None


def trailing_bracket_text(example: Example) -> str | None:
    """Text after the block starting with "[" or "<" (streaming holds it back as a suspected echo)."""
    return example.output.after if example.output.after.lstrip().startswith(("[", "<")) else None


def exponent_number(example: Example) -> str | None:
    """A number literal in exponent notation (1.5e+16) among the call's argument values (not text
    that looks like one in a string, key or name)."""
    return _first(text for _, text in _literal_texts(example, ("exponent",)))


def decimal_cut_at_point(example: Example) -> str | None:
    """A decimal number literal in the call's argument values with a delta boundary right after its
    decimal point and digits after it (48.|8566)."""
    def cut_at_point(lit, text):
        point = text.find(".")
        return 0 <= point < len(text) - 1 and lit.start + point + 1 in example.boundaries

    return _first(text for lit, text in _literal_texts(example, ("decimal",)) if cut_at_point(lit, text))


def _arguments(example: Example):
    """(call index, argument index, parameter name) of every argument of every call."""
    return [(i, j, key) for i, call in enumerate(example.output.calls) for j, key in enumerate(call.arguments)]


def keyword_argument_name(example: Example) -> str | None:
    """A Python keyword as an argument name (and=, from=): ast.parse rejects the whole block."""
    return _first(key for _, _, key in _arguments(example) if key in gen.KEYWORD_NAMES)


def keyword_argument_name_after_start(example: Example) -> str | None:
    """A Python keyword as an argument name anywhere but the first argument of the first call:
    the streaming path has sent what precedes it by then (the non-streaming path returns no call)."""
    return _first(key for i, j, key in _arguments(example) if key in gen.KEYWORD_NAMES and (i, j) != (0, 0))


def _signed_numbers(example: Example) -> list[tuple[gen.Literal, str]]:
    # A number literal written with a sign is a unary operation in the AST, not a constant
    # (the exponent's sign, 1e-06, is part of the constant).
    return [(lit, text) for lit, text in _literal_texts(example, gen.NUMBER_KINDS) if text.startswith(("-", "+"))]


def signed_number(example: Example) -> str | None:
    """A number literal with a sign (-1, -3.5, +5: a UnaryOp in the AST) among the call's argument
    values, at any depth (not text that looks like one in a string, key or name)."""
    return _first(text for _, text in _signed_numbers(example))


def _first_value_start(example: Example) -> int:
    """Text offset of the first call's first argument value (name(key=|value)), -1 without one."""
    out = example.output
    if not out.calls or not out.calls[0].arguments:
        return -1
    think = len(gen.THINK_START + out.thinking + gen.THINK_END) if out.thinking is not None else 0
    first = out.calls[0]
    return think + len(out.before + gen.CALL_START + "[") + len(f"{first.name}({next(iter(first.arguments))}=")


def signed_number_after_start(example: Example) -> str | None:
    """A signed number literal anywhere but as the first call's first argument value itself: the
    streaming path has sent what precedes it by then (the non-streaming path returns no call)."""
    start = _first_value_start(example)
    return _first(text for lit, text in _signed_numbers(example) if lit.start != start)


def raw_line_break_in_string(example: Example) -> str | None:
    """A string or key literal with a raw line break or carriage return in its text (written raw, not
    escaped): an unterminated string literal to ast.parse."""
    return _first(text for _, text in _literal_texts(example, gen.STRING_KINDS) if "\n" in text or "\r" in text)


# An escaped backslash right before a quote ("a\\"): the streaming path's bracket and quote
# tracker (make_valid_python) takes the quote for an escaped one, so the string never closes for it.
_ESCAPED_BACKSLASH_QUOTE = re.compile(r"\\\\[\"']")


def backslash_before_quote(example: Example) -> str | None:
    """A string or key literal with an escaped backslash right before a quote (its closing one:
    "a\\\\", '\\\\')."""
    return _first(text for _, text in _literal_texts(example, gen.STRING_KINDS) if _ESCAPED_BACKSLASH_QUOTE.search(text))


def bracket_in_string(example: Example) -> str | None:
    """A string or key literal with a bracket, parenthesis or brace in its text: the streaming path's
    bracket tracker counts it as code."""
    return _first(text for _, text in _literal_texts(example, gen.STRING_KINDS) if any(c in text for c in "()[]{}"))


def stop_token_shares_last_delta(example: Example) -> str | None:
    """A streamed output whose end-of-turn token arrives in one delta with text (the whole output in
    one delta, or its last piece and the stop token together: no delta ends where the text ends)."""
    text = example.output.text
    return None if len(text) in example.boundaries else (text[-12:] or "(empty)")


A, B, C = ("test_tool_calls_parsed_equal_generated", "test_tool_calls_streamed_equal_non_streaming",
           "test_text_around_tool_calls_is_content")
R = "test_reasoning_streamed_equals_non_streaming"
STREAMED_CONTENT = "streamed_text_equals_non_streaming"  # C's comparison of streamed and non-streaming content
# finding id -> its input class
INPUT_CLASSES: dict[str, InputClass] = {
    "surrogate_pair_escape": InputClass({A: ("calls_equal_generated",), B: ("deltas_serializable",)},
                                        surrogate_pair_escape),
    "content_joined_with_newline": InputClass({C: (STREAMED_CONTENT,)}, content_on_both_sides),
    "whitespace_around_block": InputClass({C: (STREAMED_CONTENT,)}, whitespace_around_block),
    # Streaming drops the text: it is not the surrounding text either.
    "trailing_bracket_text_dropped": InputClass({C: (STREAMED_CONTENT, "surrounding_text_is_content[streamed]")},
                                                trailing_bracket_text),
    "float_exponent_streamed": InputClass({B: ("streamed_calls_equal_non_streaming",)}, exponent_number),
    "decimal_cut_at_point_streamed": InputClass({B: ("streamed_calls_equal_non_streaming",)}, decimal_cut_at_point),
    # vLLM 0.23: a block the non-streaming path cannot parse is returned whole as content (no call).
    "keyword_argument_name": InputClass({A: ("calls_equal_generated",),
                                         C: ("surrounding_text_is_content", STREAMED_CONTENT)}, keyword_argument_name),
    "keyword_argument_name_streamed": InputClass({B: ("streamed_calls_equal_non_streaming",)},
                                                 keyword_argument_name_after_start),
    "negative_number_unparsed": InputClass({A: ("calls_equal_generated",),
                                            C: ("surrounding_text_is_content", STREAMED_CONTENT)}, signed_number),
    "negative_number_streamed_cut": InputClass({B: ("streamed_calls_equal_non_streaming",)},
                                               signed_number_after_start),
    # Streamed: the call is sent with its arguments cut at the line break.
    "raw_line_break_unparsed": InputClass({A: ("calls_equal_generated",), B: ("streamed_calls_equal_non_streaming",),
                                           C: ("surrounding_text_is_content", STREAMED_CONTENT)},
                                          raw_line_break_in_string),
    "backslash_string_streamed": InputClass({B: ("streamed_calls_equal_non_streaming",)}, backslash_before_quote),
    "bracket_in_string_streamed": InputClass({B: ("streamed_calls_equal_non_streaming",)}, bracket_in_string),
    # vLLM 0.26, qwen3 reasoning parser behind the lfm2 tool parser (special tokens kept): the stop token's text.
    "stop_token_streamed_as_text": InputClass(
        {R: ("streamed_text_equals_non_streaming[reasoning]", "streamed_text_equals_non_streaming[content]",
             "no_markup_in"), C: ("surrounding_text_is_content[streamed]", STREAMED_CONTENT)},
        stop_token_shares_last_delta),
}


def classes_for(prop: str, check: str, example: Example, reproducing) -> list[tuple[str, str]]:
    """(finding id, witness) of the recorded findings reproducing here (`reproducing`: finding ids)
    whose input class covers this example for this check of this property."""
    found = [(fid, cls.applies(example)) for fid, cls in INPUT_CLASSES.items()
             if fid in reproducing and check in cls.breaks.get(prop, ())]
    return [(fid, witness) for fid, witness in found if witness is not None]


def replay_test(finding_id: str) -> str:
    """The test replaying a finding (suites/test_parser_findings.py); its known deviation says
    where the finding reproduces."""
    return f"test_parser_finding_{finding_id}"


def reproducing(known: deviations.KnownDeviations, model_name: str, target: str) -> frozenset[str]:
    """The findings that reproduce for this model and target on the vLLM version `known` is for:
    those whose replay test has a known deviation there (suites/known_deviations.yaml `vllm`)."""
    return frozenset(fid for fid in INPUT_CLASSES if known.match(replay_test(fid), model_name, target) is not None)


# -- accounting: what each property checked and excluded --------------------------------------------
MAX_EXCLUDED = 0.05  # a property excluding more of its generated outputs fails (checks.parser_properties)


def _event(text: str) -> None:
    """A hypothesis event (its statistics: --hypothesis-show-statistics), when inside a property."""
    if currently_in_test_context():
        event(text)


@dataclass
class Tally:
    """One property's run on one parser configuration: the distinct outputs it generated, those
    excluded from some check per recorded finding (each excluded output counts, however alike: the
    bound is on what the property did not check), the findings that may exclude (`reproducing`), and
    the literal cells (kind, depth, boundary inside) of the examples whose streamed arguments were
    compared."""
    prop: str
    reproducing: frozenset = frozenset()  # finding ids reproducing on this vLLM (`reproducing`)
    outputs: set = field(default_factory=set)  # model output texts
    excluded: dict = field(default_factory=dict)  # finding id -> excluded output texts
    witnesses: dict = field(default_factory=dict)  # finding id -> offending literals or texts, for evidence
    excluded_texts: set = field(default_factory=set)  # the excluded outputs, all findings
    coverage: Counter = field(default_factory=Counter)  # (kind, depth, cut inside) -> examples
    _output: str = ""
    _excluded_now: bool = False

    @property
    def generated(self) -> int:
        return len(self.outputs)

    @property
    def excluded_outputs(self) -> int:
        """Distinct outputs excluded from some check."""
        return len(self.excluded_texts)

    def begin(self, output_text: str) -> None:
        self._output, self._excluded_now = output_text, False
        self.outputs.add(output_text)

    def exclude(self, finding_id: str, witness: str, check: str) -> None:
        _event(f"excluded from {check}: {finding_id}")
        self.excluded.setdefault(finding_id, set()).add(self._output)
        self.witnesses.setdefault(finding_id, set()).add(witness)
        self.excluded_texts.add(self._output)
        self._excluded_now = True

    def end(self) -> None:
        _event("excluded from some check" if self._excluded_now else "checked")

    def cover(self, example: Example) -> None:
        """Count the example's literal cells as checked (depths past MAX_DEPTH as MAX_DEPTH + 1)."""
        for cell in {(lit.kind, min(lit.depth, gen.MAX_DEPTH + 1), lit.cut_inside(example.boundaries))
                     for lit in example.output.literals()}:
            self.coverage[cell] += 1

    def counts(self) -> dict[str, int]:
        """Excluded outputs per finding."""
        return {fid: len(texts) for fid, texts in sorted(self.excluded.items())}

    def rates(self) -> dict[str, float]:
        return {fid: n / self.generated for fid, n in self.counts().items()} if self.generated else {}

    def figures(self) -> dict:
        return {"kind": "parser_property", "property": self.prop, "profile": PROFILE, "generated": self.generated,
                "checked": self.generated - self.excluded_outputs, "excluded": self.counts(),
                "excluded_outputs": self.excluded_outputs,
                "excluded_rate": round(self.excluded_outputs / self.generated, 4) if self.generated else 0.0,
                "reproducing": sorted(self.reproducing),
                "coverage": [{"kind": k, "depth": d, "boundary_inside": cut, "examples": n}
                             for (k, d, cut), n in sorted(self.coverage.items())]}


# (property, parser id, reproducing findings) -> (first model, tally)
_TALLIES: dict[tuple[str, int, frozenset], tuple[str, Tally]] = {}


def tally(prop: str, parser: ServingParser, model_name: str, found_here: frozenset = frozenset()) -> Tally:
    """The property's tally on this parser configuration with these reproducing findings (shared by
    models that share the run)."""
    return _TALLIES.setdefault((prop, id(parser), found_here), (model_name, Tally(prop, found_here)))[1]


def coverage_table(title: str, counts: Counter) -> list[str]:
    """value kind x depth x boundary inside the literal: examples checked, as text lines."""
    lines = [title, f"  {'kind':<9} {'depth':>5} {'cut inside':>11} {'not cut':>8}"]
    for kind in gen.KINDS:
        for depth in range(gen.MAX_DEPTH + 2):
            cut, whole = counts.get((kind, depth, True), 0), counts.get((kind, depth, False), 0)
            if cut or whole or (depth <= gen.MAX_DEPTH and (kind != "key" or depth)):
                lines.append(f"  {kind:<9} {depth if depth <= gen.MAX_DEPTH else f'>{gen.MAX_DEPTH}':>5} "
                             f"{cut:>11} {whole:>8}")
    return lines


def summary_lines() -> list[str]:
    """Per property and parser configuration: generated, excluded per class, and the coverage table."""
    lines = []
    for (prop, _, _), (model_name, t) in _TALLIES.items():
        rates = ", ".join(f"{fid} {n} ({n / t.generated:.1%})" for fid, n in t.counts().items()) or "none"
        lines.append(f"{prop} [{model_name}, profile {PROFILE}]: {t.generated} generated, "
                     f"{t.generated - t.excluded_outputs} fully checked, excluded outputs per recorded finding: "
                     f"{rates}")
        if t.coverage:
            lines += coverage_table("  streamed arguments compared, per literal cell (examples):", t.coverage)
    return lines


@lru_cache(maxsize=None)
def _serving_parser(path: str, args: tuple) -> ServingParser:
    return ServingParser(path, args)


@lru_cache(maxsize=None)
def _driver_unsupported() -> str | None:
    return unsupported_reason(deviations.installed_vllm_version())


def serving_parser(model, matrix, target, served_vllm: str | None) -> ServingParser:
    """The model's parsers with its server's flags and tokenizer (fixture on CPU, HF id on GPU).
    Skips the test (NOT RUN) where the installed vLLM lacks the API the driver calls (a limitation
    of the suite's driver is not a verdict on vLLM), or is not the vLLM under test, `served_vllm`
    (remote mode: the endpoint's, whose version the deviations are matched against)."""
    if (reason := _driver_unsupported()) is not None:
        pytest.skip(reason)
    if served_vllm != (local := deviations.installed_vllm_version()):
        pytest.skip(f"not run: in-process parser check runs the local vLLM {local}, the endpoint runs vLLM "
                     f"{served_vllm or '(version unknown)'}")
    return _serving_parser(weights_path(model, matrix, target), matrix.serve_config(model, target).args)


_OUTCOMES: dict[tuple, tuple[str, BaseException | None]] = {}


def run_once(prop, parser: ServingParser, model_name: str, found_here: frozenset = frozenset()) -> None:
    """Run a property once per parser configuration and set of reproducing findings: models whose
    servers run the same parsers with the same tokenizer (CPU models sharing a fixture and flags) get
    the identical outcome, re-raised, instead of re-running identical examples."""
    key = (prop.__name__, id(parser), found_here)
    if key in _OUTCOMES:
        _first, error = _OUTCOMES[key]
        if error is not None:
            raise error
        return
    try:
        prop()
    except BaseException as exc:
        _OUTCOMES[key] = (model_name, exc)
        raise
    _OUTCOMES[key] = (model_name, None)
