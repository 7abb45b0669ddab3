"""Generated model outputs for the parser properties (hypothesis strategies).

Tool calls are rendered the way LFM2/LFM2.5 models write them (their chat templates render past
calls so): `<|tool_call_start|>[name(key=value, ...), ...]<|tool_call_end|>`, one Python-literal
value per keyword, with both spellings the published templates and the real models use: JSON
(`true`, `null`, `{"k": 1}`, `"\\u00e9"`) and Python (`True`, `None`, `'x'`, raw control
characters inside a string). The expected result of a call is its arguments as JSON.

Two kinds of argument values: extreme ones (any JSON value hypothesis draws, every spelling, floats
in exponent notation) and the values a language model writes in tool calls (short decimals like
48.8566 or -3.5, signed integers, ids, dates, Japanese text) at nesting depths 0..3. Every scalar
literal of a call (and every object key) is recorded with its kind, depth and place in the text
(`Literal`): for the narrow exclusions of recorded findings and the coverage table. Chunkings put
stream boundaries at the real tokenizer's token edges or anywhere inside those literals.
"""
from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, replace
from itertools import accumulate

from hypothesis import strategies as st

CALL_START, CALL_END = "<|tool_call_start|>", "<|tool_call_end|>"
THINK_START, THINK_END = "<think>", "</think>"
# Every special token string of the LFM2 tokenizers: model text never contains them by accident.
SPECIAL_TEXTS = ("<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>", "<|fim_suf|>",
                 "<|im_start|>", "<|im_end|>", "<|tool_list_start|>", "<|tool_list_end|>", CALL_START, CALL_END,
                 "<|tool_response_start|>", "<|tool_response_end|>")
# Parameter names that are Python keywords (the lower-case ones a tool schema plausibly uses).
KEYWORD_NAMES = sorted(k for k in keyword.kwlist if k.islower())
# Kinds of literal in a call's text (`Literal.kind`), and how deep values nest (0: the argument itself).
KINDS = ("int", "decimal", "exponent", "string", "key", "bool", "null")
NUMBER_KINDS, STRING_KINDS = ("int", "decimal", "exponent"), ("string", "key")
MAX_DEPTH = 3


@dataclass(frozen=True)
class Literal:
    """One scalar literal (or object key) as written in a text: its kind, its depth in its argument
    (0: the argument itself, 1: inside an object or list argument, ...) and its place [start, end)."""
    kind: str
    depth: int
    start: int
    end: int

    def shifted(self, offset: int) -> Literal:
        return replace(self, start=self.start + offset, end=self.end + offset)

    def cut_inside(self, boundaries) -> bool:
        """Whether a stream boundary falls strictly inside the literal."""
        return any(self.start < b < self.end for b in boundaries)


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict  # JSON-typed values
    text: str  # how the model wrote it
    literals: tuple[Literal, ...] = ()  # offsets in `text`


@dataclass(frozen=True)
class ToolOutput:
    before: str
    calls: tuple[Call, ...]
    after: str
    thinking: str | None = None  # a <think> block first (models served with a reasoning parser)

    @property
    def block(self) -> str:
        return CALL_START + "[" + ", ".join(c.text for c in self.calls) + "]" + CALL_END

    @property
    def text(self) -> str:
        think = f"{THINK_START}{self.thinking}{THINK_END}" if self.thinking is not None else ""
        return think + self.before + self.block + self.after

    def expected_calls(self) -> list[dict]:
        return [{"name": c.name, "arguments": c.arguments} for c in self.calls]

    def literals(self) -> list[Literal]:
        """Every literal of every call, offsets in `text`."""
        think = len(THINK_START + self.thinking + THINK_END) if self.thinking is not None else 0
        offset = think + len(self.before + CALL_START + "[")
        found = []
        for call in self.calls:
            found += [lit.shifted(offset) for lit in call.literals]
            offset += len(call.text + ", ")
        return found


@dataclass(frozen=True)
class ReasoningOutput:
    reasoning: str
    answer: str
    opened: bool = True  # whether the model wrote <think> itself

    @property
    def text(self) -> str:
        return (THINK_START if self.opened else "") + self.reasoning + THINK_END + self.answer


def canonical(value) -> str:
    """Type-exact JSON text (1 != 1.0 != true) for comparing argument values."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- values -------------------------------------------------------------------------------------
_chars = st.characters(exclude_categories=("Cs",))  # any code point UTF-8 can carry
_tricky = st.sampled_from(['"', "'", "\\", "\n", "\t", "\r", "\x00", "\x1b", "é", "中", "😀", "👩‍👩‍👧", ",", ")",
                           "]", "}", "=", "(", "[", "{", ":", "#", " ", "\\n", "'''", '"""', "\u2028", "\x7f"])
texts = st.lists(st.one_of(_tricky, st.text(_chars, max_size=4)), max_size=6).map("".join)
floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)

# What a language model puts in tool-call arguments: coordinates (48.8566), prices (19.99),
# percentages and temperatures (-3.5), counts, years and ids, dates, names, unicode and Japanese.
model_decimals = st.builds(lambda n, places: round(n / 10 ** places, places),
                           st.integers(-1_800_000, 1_800_000), st.sampled_from([1, 2, 4]))
model_scientific = st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-99, 99), st.integers(-12, 12))  # 1.5e-06
model_integers = st.one_of(st.integers(-100, 100), st.integers(0, 10 ** 7))
_model_texts = st.sampled_from([
    "Paris", "Zürich", "São Paulo", "東京", "大阪府大阪市", "明日の天気を教えてください", "celsius", "", "ja-JP",
    "user@example.com", "https://example.com/a?b=1", "Hello, world!", "12:30:00", "1e5", "api_v1e2", "-3.5", "true",
    "C'est la vie", 'say "hi"', "a\\b", "line 1\nline 2"])
_times = st.times().map(lambda t: t.isoformat("seconds"))
_ids = st.from_regex(r"[A-Za-z]{2,4}[_-][0-9]{3,8}", fullmatch=True)
model_strings = st.one_of(_model_texts, _model_texts, st.dates().map(str), _times, _ids, texts)  # texts: anything
_key_names = st.sampled_from(["lat", "lon", "unit", "id", "price", "date", "name", "q", "e1", "2e3", "東京", "min",
                              "max", "location", "filters", "range"])
model_keys = st.one_of(_key_names, _key_names, _key_names, texts)
# Natural weights here and below: every kind alike. No weight keeps a recorded finding's inputs rare,
# so the properties' exclusion counts are the findings' true rates (parser_findings.Tally).
model_scalars = st.one_of(model_decimals, model_integers, model_strings, st.booleans(), st.none(), model_scientific)


@st.composite
def model_values(draw, depth: int | None = None):
    """A model-written value whose deepest scalar sits `depth` containers down (drawn 0..MAX_DEPTH),
    in an object or a list, among 0-2 sibling scalars."""
    depth = draw(st.integers(0, MAX_DEPTH)) if depth is None else depth
    if depth == 0:
        return draw(model_scalars)
    children = draw(st.lists(model_scalars, max_size=2))
    children.insert(draw(st.integers(0, len(children))), draw(model_values(depth - 1)))
    if draw(st.integers(0, 2)) == 0:  # an object 2 in 3 (tool arguments are mostly objects)
        return children
    keys = draw(st.lists(model_keys, min_size=len(children), max_size=len(children), unique=True))
    return dict(zip(keys, children))


class Written:
    """Text being written, with the literals in it."""

    def __init__(self):
        self.parts: list[str] = []
        self.literals: list[Literal] = []
        self.size = 0

    def add(self, text: str, kind: str | None = None, depth: int = 0) -> None:
        if kind is not None:
            self.literals.append(Literal(kind, depth, self.size, self.size + len(text)))
        self.parts.append(text)
        self.size += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def write(value, choose, out: Written, forms=None, depth: int = 0) -> None:
    """One Python-literal spelling of a JSON value into `out`; `choose` picks among the spellings
    `forms(scalar)` offers (a hypothesis draw in the properties, a seeded random choice in scripts)."""
    forms = forms or all_forms
    if isinstance(value, (list, dict)):
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        out.add("{" if isinstance(value, dict) else "[")
        for n, (key, item) in enumerate(items):
            out.add(", " if n else "")
            if key is not None:
                out.add(choose(forms(key)), "key", depth + 1)
                out.add(": ")
            write(item, choose, out, forms, depth + 1)
        out.add("}" if isinstance(value, dict) else "]")
        return
    text = choose(forms(value))
    out.add(text, scalar_kind(value, text), depth)


def spell(value, choose) -> str:
    """One Python-literal spelling of a JSON value (any of `all_forms` per scalar)."""
    out = Written()
    write(value, choose, out)
    return out.text


def scalar_kind(value, text: str) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "bool"
    if isinstance(value, float):
        return "exponent" if "e" in text.lower() else "decimal"
    return "int" if isinstance(value, int) else "string"


def all_forms(value) -> list[str]:
    """Every spelling of a scalar the parser must read as the value (the extreme generator)."""
    if value is None:
        return ["None", "null"]
    if isinstance(value, bool):
        return [str(value), str(value).lower()]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return float_forms(value)
    return string_forms(value)


def model_forms(value) -> list[str]:
    """How a language model spells a scalar: shortest decimals, with a trailing zero, a plus sign
    (Python allows it) or in scientific notation (1e-06); signed and zero-padded integers (month=07,
    which vLLM reads as 7); JSON or Python strings; JSON or Python constants."""
    if value is None or isinstance(value, bool):
        return all_forms(value)
    if isinstance(value, int):
        return [str(value), *([f"+{value}"] if value > 0 else []), *([f"0{value}"] if 0 < value < 10 else [])]
    if isinstance(value, float):
        shortest, scientific = repr(value), f"{value:g}"
        forms = (shortest, shortest + "0", f"+{shortest}" if value > 0 else "", scientific if "e" in scientific else "")
        return [f for f in dict.fromkeys(forms) if f and float(f) == value]
    # ASCII-only JSON escapes for text in the Basic Multilingual Plane (東京 as \u6771\u4eac); an emoji
    # as a surrogate-pair escape is the extreme generator's (all_forms)
    ascii_json = [json.dumps(value)] if all(ord(c) < 0x10000 for c in value) else []
    return [json.dumps(value, ensure_ascii=False), repr(value), *ascii_json]


def float_forms(value: float) -> list[str]:
    forms = [repr(value), f"{value:e}", f"{value:E}"]
    if value == int(value) and abs(value) < 1e15:
        forms.append(f"{int(value)}.")  # "3." is a float in Python
    if 0 < abs(value) < 1 and repr(value).lstrip("-").startswith("0."):
        forms.append(repr(value).replace("0.", ".", 1))  # ".5"
    return [f for f in forms if repr(float(f)) == repr(value)]  # %e may round, "0." loses -0.0: exact only


def string_forms(value: str) -> list[str]:
    """JSON escapes (UTF-8 or ASCII-only), Python repr, or double quotes with raw control characters."""
    return [json.dumps(value, ensure_ascii=False), json.dumps(value, ensure_ascii=True), repr(value),
            '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"']


# An argument value is a model-written one or an extreme one (a float alone half the time), alike.
extreme_values = st.one_of(floats, json_values)
MODEL, EXTREME = "model", "extreme"
argument_styles = st.sampled_from([MODEL, EXTREME])


# -- calls --------------------------------------------------------------------------------------
_ident = st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,5}){0,2}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not keyword.issoftkeyword(s) and s not in ("null", "true", "false"))
function_names = st.one_of(_ident, st.lists(_ident, min_size=2, max_size=3).map(".".join))
parameter_names = st.one_of(_ident, st.sampled_from(KEYWORD_NAMES))


def call_of(name: str, arguments: dict, choose, forms: dict | None = None) -> Call:
    """A call as the model writes it: `forms` maps a parameter to the spellings of its scalars
    (`model_forms` or `all_forms`, the default); `choose` picks one spelling per scalar."""
    out = Written()
    out.add(f"{name}(")
    for n, (key, value) in enumerate(arguments.items()):
        out.add(f"{', ' if n else ''}{key}=")
        write(value, choose, out, (forms or {}).get(key, all_forms))
    out.add(")")
    return Call(name, arguments, out.text, tuple(out.literals))


@st.composite
def calls(draw) -> Call:
    name = draw(function_names)
    keys = draw(st.lists(parameter_names, unique=True, max_size=4))
    models = {key: draw(argument_styles) == MODEL for key in keys}
    arguments = {key: draw(model_values() if models[key] else extreme_values) for key in keys}
    return call_of(name, arguments, lambda options: draw(st.sampled_from(options)),
                   {key: model_forms if models[key] else all_forms for key in keys})


plain_text = texts.filter(lambda s: not any(t in s for t in SPECIAL_TEXTS + (THINK_START, THINK_END)))
# Text around a call block: a model's sentence mostly, tricky text sometimes; whitespace or none at
# its edges, text on no side of the block, before, after or both, alike.
model_sentences = st.sampled_from(["Sure, let me check that.", "I'll look it up.", "確認します。", "Done:",
                                   "Here is the result.", "Calling the tool now", "(one moment)", "x"])
_text_part = st.one_of(model_sentences, model_sentences, model_sentences, plain_text.map(str.strip))
_edge_space = st.sampled_from(["", " ", "\n"])
# Sides of the block with text (before, after): none, before, after, both.
_sides = st.sampled_from([(False, False), (True, False), (False, True), (True, True)])


@st.composite
def surrounding_text(draw, present: bool = True) -> str:
    return draw(_edge_space) + draw(_text_part) + draw(_edge_space) if present else ""


@st.composite
def tool_outputs(draw, thinking: bool = False, surrounding: bool = True) -> ToolOutput:
    """1-3 calls in one block, optionally with text before and after it (and a think block first)."""
    found = tuple(draw(st.lists(calls(), min_size=1, max_size=3)))
    has_before, has_after = draw(_sides) if surrounding else (False, False)
    before, after = draw(surrounding_text(has_before)), draw(surrounding_text(has_after))
    think = draw(plain_text) if thinking else None
    return ToolOutput(before, found, after, think)


# -- reasoning ----------------------------------------------------------------------------------
# Pieces of tags but never a whole <think> or </think> (what a second tag should mean is unspecified).
_reasoning_bits = st.sampled_from(["<", ">", "think", "<think", "think>", "</", "</think", "/think>", "/think",
                                   "\n", "\n\n", " ", CALL_START, CALL_END, "[f(a=1)]"])


def _no_tag(s: str) -> bool:
    return THINK_END not in s and THINK_START not in s


reasoning_text = st.lists(st.one_of(_reasoning_bits, st.text(_chars, max_size=5)), max_size=8).map("".join).filter(_no_tag)
# The answer may not open a tool call (the tool parser would rightly take it) nor close a think block.
answer_text = st.lists(st.one_of(_reasoning_bits.filter(lambda b: b not in (CALL_START, CALL_END)),
                                 st.text(_chars, max_size=5)), max_size=8).map("".join).filter(
    lambda s: _no_tag(s) and not any(t in s for t in SPECIAL_TEXTS))


@st.composite
def reasoning_outputs(draw) -> ReasoningOutput:
    return ReasoningOutput(draw(reasoning_text), draw(answer_text), opened=draw(st.booleans()))


# -- chunkings ----------------------------------------------------------------------------------
# Token modes split the real tokenizer's token ids (a delta never splits a token, so never a special
# token): one token per delta, everything at once, cuts anywhere. Text modes put boundaries inside
# the call's literals (each piece tokenized on its own, as a model may emit it): every character of
# every literal its own delta, or one drawn place inside each of 1-3 literals.
TOKEN_MODES, TEXT_MODES = ("each", "whole", "random"), ("literal_chars", "literal_cut")


@dataclass(frozen=True)
class Chunking:
    mode: str
    sizes: tuple[int, ...] = ()  # token modes: token ids per delta
    cuts: tuple[int, ...] = ()  # text modes: text offsets where a delta ends


@st.composite
def token_chunkings(draw, n_tokens: int, mode: str | None = None) -> Chunking:
    mode = mode or draw(st.sampled_from(TOKEN_MODES))
    if mode == "whole" or n_tokens <= 1:
        return Chunking(mode, (n_tokens,))
    if mode == "each":
        return Chunking(mode, (1,) * n_tokens)
    cuts = sorted(draw(st.sets(st.integers(1, n_tokens - 1), max_size=min(n_tokens - 1, 40))))
    edges = [0, *cuts, n_tokens]
    return Chunking(mode, tuple(b - a for a, b in zip(edges, edges[1:])))


@st.composite
def chunkings(draw, n_tokens: int, literals=()) -> Chunking:
    """A token chunking, or (for an output with literals) a text chunking inside its literals."""
    mode = draw(st.sampled_from(TOKEN_MODES + (TEXT_MODES if literals else ())))
    if mode in TOKEN_MODES:
        return draw(token_chunkings(n_tokens, mode))
    if mode == "literal_chars":
        return Chunking(mode, cuts=tuple(sorted({p for lit in literals for p in range(lit.start, lit.end + 1)})))
    long = [lit for lit in literals if lit.end - lit.start > 1]
    if not long:  # one-character literals only: cut around them
        return Chunking(mode, cuts=tuple(sorted({p for lit in literals for p in (lit.start, lit.end)})))
    chosen = draw(st.lists(st.sampled_from(long), min_size=1, max_size=3))  # 1-3 literals, one place in each
    return Chunking(mode, cuts=tuple(sorted({draw(st.integers(lit.start + 1, lit.end - 1)) for lit in chosen})))


def split_at(text: str, cuts) -> list[str]:
    """`text` as the pieces between the cut offsets."""
    edges = [0, *sorted(c for c in set(cuts) if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:])]


def boundaries(chunks: list[str]) -> frozenset[int]:
    """Text offsets where one delta ends and the next begins."""
    return frozenset(list(accumulate(len(c) for c in chunks))[:-1])
