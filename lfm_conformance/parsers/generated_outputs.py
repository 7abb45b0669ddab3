"""Generated model outputs for the parser properties (hypothesis strategies).

Tool calls are rendered the way LFM2/LFM2.5 models write them (their chat templates render past
calls so): `<|tool_call_start|>[name(key=value, ...), ...]<|tool_call_end|>`, one Python-literal
value per keyword, with both spellings the published templates and the real models use: JSON
(`true`, `null`, `{"k": 1}`, `"\\u00e9"`) and Python (`True`, `None`, `'x'`, raw control
characters inside a string). The expected result of a call is its arguments as JSON.
"""
from __future__ import annotations

import json
import keyword
from dataclasses import dataclass

from hypothesis import strategies as st

CALL_START, CALL_END = "<|tool_call_start|>", "<|tool_call_end|>"
THINK_START, THINK_END = "<think>", "</think>"
# Every special token string of the LFM2 tokenizers: model text never contains them by accident.
SPECIAL_TEXTS = ("<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>", "<|fim_suf|>",
                 "<|im_start|>", "<|im_end|>", "<|tool_list_start|>", "<|tool_list_end|>", CALL_START, CALL_END,
                 "<|tool_response_start|>", "<|tool_response_end|>")
# Parameter names that are Python keywords (the lower-case ones a tool schema plausibly uses).
KEYWORD_NAMES = sorted(k for k in keyword.kwlist if k.islower())


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict  # JSON-typed values
    text: str  # how the model wrote it


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


def spell(value, choose) -> str:
    """One Python-literal spelling of a JSON value; `choose` picks among the spellings of each node
    (a hypothesis draw in the properties, a seeded random choice in scripts)."""
    if value is None:
        return choose(["None", "null"])
    if isinstance(value, bool):
        return choose([str(value), str(value).lower()])
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return choose(float_forms(value))
    if isinstance(value, str):
        return choose(string_forms(value))
    if isinstance(value, list):
        return "[" + ", ".join(spell(v, choose) for v in value) + "]"
    return "{" + ", ".join(f"{choose(string_forms(k))}: {spell(v, choose)}" for k, v in value.items()) + "}"


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


@st.composite
def literal(draw, value) -> str:
    return spell(value, lambda options: draw(st.sampled_from(options)))


def value_literal_pairs():
    return json_values.flatmap(lambda v: literal(v).map(lambda text: (v, text)))


# -- calls --------------------------------------------------------------------------------------
_ident = st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,5}){0,2}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not keyword.issoftkeyword(s) and s not in ("null", "true", "false"))
function_names = st.one_of(_ident, st.lists(_ident, min_size=2, max_size=3).map(".".join))
parameter_names = st.one_of(_ident, st.sampled_from(KEYWORD_NAMES))


@st.composite
def calls(draw) -> Call:
    name = draw(function_names)
    keys = draw(st.lists(parameter_names, unique=True, max_size=4))
    arguments, parts = {}, []
    for key in keys:
        value, text = draw(value_literal_pairs())
        arguments[key] = value
        parts.append(f"{key}={text}")
    return Call(name, arguments, f"{name}({', '.join(parts)})")


plain_text = texts.filter(lambda s: not any(t in s for t in SPECIAL_TEXTS + (THINK_START, THINK_END)))


@st.composite
def tool_outputs(draw, thinking: bool = False, surrounding: bool = True) -> ToolOutput:
    """1-3 calls in one block, optionally with text before and after it (and a think block first)."""
    found = tuple(draw(st.lists(calls(), min_size=1, max_size=3)))
    before = draw(plain_text) if surrounding else ""
    after = draw(plain_text) if surrounding else ""
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
@st.composite
def chunk_sizes(draw, n_tokens: int) -> list[int]:
    """A split of n token ids into consecutive deltas (a delta never splits a token, so never a
    special token): one token per delta, everything at once, or cuts anywhere in between."""
    mode = draw(st.sampled_from(["each", "whole", "random"]))
    if mode == "each" or n_tokens <= 1:
        return [1] * n_tokens if mode == "each" else [n_tokens]
    if mode == "whole":
        return [n_tokens]
    cuts = sorted(draw(st.sets(st.integers(1, n_tokens - 1), max_size=min(n_tokens - 1, 40))))
    edges = [0, *cuts, n_tokens]
    return [b - a for a, b in zip(edges, edges[1:])]
