"""A model output text read back into the structure the generators write (generated_outputs.ToolOutput:
calls, literals with kind, depth and place), so a recorded finding's input class can be asked about
any text and any chunking, e.g. the chunking a server really streamed (parsers/triggers.py).

The call block is read with Python's own parser, after same-length substitutions for what models
write and `ast` rejects: a Python keyword as argument name (and=), a zero-padded integer (07) and a
raw line break inside a string. Returns None for text that is not one call block in the generators' layout."""
from __future__ import annotations

import ast
import re

from lfm_conformance.parsers import generated_outputs as gen

_KEYWORD_NAME = re.compile(r"(?<![\w.])(" + "|".join(gen.KEYWORD_NAMES) + r")(?=\s*=)")
_PADDED_INT = re.compile(r"(?<![\w.])(?<![eE][+-])0+(?=\d+(?![\w.]))")  # 07: a zero-padded integer (Python 3 refuses it)
_JSON_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _segments(block: str) -> list[tuple[bool, str]]:
    """(inside a string, text) runs of a call block, quotes belonging to the string."""
    runs, quote, escaped, current = [], None, False, ""
    for ch in block:
        if quote is None and ch in "\"'":
            runs.append((False, current))
            current, quote = ch, ch
            continue
        current += ch
        if quote is None:
            continue
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == quote:
            runs.append((True, current))
            current, quote = "", None
    runs.append((quote is not None, current))
    return [run for run in runs if run[1]]


def _masked(block: str) -> tuple[str, dict[str, str]]:
    """The block with same-length substitutions `ast` accepts: outside strings, `and=` -> `AND=`
    and `07` -> `+7`; inside strings, a raw line break -> a space. Returns it and the masked names."""
    names, out = {}, []

    def mask_name(m):
        names[m.group(1).upper()] = m.group(1)
        return m.group(1).upper()

    for in_string, text in _segments(block):
        if in_string:
            out.append(text.replace("\r", " ").replace("\n", " "))
        else:
            text = _KEYWORD_NAME.sub(mask_name, text)
            out.append(_PADDED_INT.sub(lambda m: "+" * len(m.group(0)), text))
    return "".join(out), names


def _string_value(original: str, start: int, end: int) -> str:
    """The string literal at [start, end) of the unmasked block, raw line breaks and all, as JSON
    reads the same escapes (a surrogate pair \\ud83d\\ude00 is one character)."""
    value = ast.literal_eval(original[start:end].replace("\r", "\\r").replace("\n", "\\n"))
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def _offset(text: str, line_starts: list[int], lineno: int, col_bytes: int) -> int:
    """ast's (line, UTF-8 byte column) as a character offset in `text`."""
    start = line_starts[lineno - 1]
    line = text[start:]
    return start + len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))


def _signed_number(node):
    """-7, +7 and the masked ++7 (a padded 007): a number under unary signs."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-sign if isinstance(node.op, ast.USub) else sign), node.operand
    if not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
        raise ValueError("not a number under a sign")
    return sign * node.value


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def span(self, node) -> tuple[int, int]:
        return (_offset(self.source, self.starts, node.lineno, node.col_offset),
                _offset(self.source, self.starts, node.end_lineno, node.end_col_offset))

    def value(self, node, depth: int, literals: list, original: str):
        """The JSON-typed value of a node, recording its scalar literals."""
        if isinstance(node, ast.Dict):
            out = {}
            for key, item in zip(node.keys, node.values):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise ValueError("object key is not a string")
                span = self.span(key)
                literals.append(gen.Literal("key", depth + 1, *span))
                out[_string_value(original, *span)] = self.value(item, depth + 1, literals, original)
            return out
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.value(item, depth + 1, literals, original) for item in node.elts]
        start, end = self.span(node)
        if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
            value = _JSON_NAMES[node.id]
        elif isinstance(node, ast.UnaryOp):
            value = _signed_number(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = _string_value(original, start, end)
        elif isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float))):
            value = node.value
        else:
            raise ValueError(f"not a literal: {ast.dump(node)[:60]}")
        literals.append(gen.Literal(gen.scalar_kind(value, original[start:end]), depth, start, end))
        return value


def tool_output(text: str) -> gen.ToolOutput | None:
    """The ToolOutput whose `.text` is `text` (one <think> block first at most, one call block),
    or None when the text is not one in the generators' layout or its calls cannot be read."""
    thinking = None
    rest = text
    if rest.startswith(gen.THINK_START) and gen.THINK_END in rest:
        thinking, rest = rest[len(gen.THINK_START):].split(gen.THINK_END, 1)
    if rest.count(gen.CALL_START) != 1 or rest.count(gen.CALL_END) != 1:
        return None
    before, tail = rest.split(gen.CALL_START, 1)
    block, after = tail.split(gen.CALL_END, 1)
    masked, keyword_names = _masked(block)
    try:
        tree = ast.parse(masked, mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL character
        return None
    if not isinstance(tree, ast.List) or not all(isinstance(c, ast.Call) and not c.args for c in tree.elts):
        return None
    reader = _Reader(masked)
    calls = []
    try:
        for node in tree.elts:
            start, end = reader.span(node)
            literals, arguments = [], {}
            for kw in node.keywords:
                if kw.arg is None:
                    return None
                arguments[keyword_names.get(kw.arg, kw.arg)] = reader.value(kw.value, 0, literals, block)
            calls.append(gen.Call(ast.unparse(node.func), arguments, block[start:end],
                                  tuple(lit.shifted(-start) for lit in literals)))
    except (ValueError, RecursionError):
        return None
    out = gen.ToolOutput(before, tuple(calls), after, thinking)
    return out if out.text == text else None  # calls not in the generators' "[a(), b()]" layout
