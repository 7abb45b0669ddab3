"""Parser findings: minimal failing examples the parser properties found against a vLLM version
(suites/parser_findings.yaml), the input class each one stands for (so the properties skip only
that class and keep hunting), and the shared settings and per-model parser of the properties."""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, assume, settings

from lfm_conformance.data import deviations
from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers.parser_driver import ServingParser, unsupported_reason, weights_path

FINDINGS_FILE = Path(__file__).resolve().parents[2] / "suites" / "parser_findings.yaml"
PROFILES = {
    # README test command: deterministic, bounded (each example parses the output once whole and
    # once per delta).
    "ci": dict(max_examples=int(os.environ.get("LFMC_PROPERTY_EXAMPLES", "60"))),
    "deep": dict(max_examples=int(os.environ.get("LFMC_PROPERTY_EXAMPLES", "3000"))),
}
PROFILE = os.environ.get("LFMC_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in PROFILES:
    raise ValueError(f"LFMC_HYPOTHESIS_PROFILE={PROFILE!r}; allowed values: {', '.join(PROFILES)}")
property_settings = settings(
    **PROFILES[PROFILE], derandomize=True, deadline=None, database=None, print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])

SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "parser", "property", "check", "model_output", "delta_texts", "expected", "observed"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9_]+$"},
            "parser": {"enum": ["tools", "reasoning"]},
            "property": {"type": "string", "pattern": "^test_"},
            "check": {"type": "string"},
            "model_output": {"type": "string"},
            "delta_texts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "expected": {"type": "string"},
            "observed": {"type": "string"},
            "expected_calls": {"type": "array"},  # replaying test_tool_calls_parsed_equal_generated
            "note": {"type": "string"},
        },
    },
}


def load(path: Path = FINDINGS_FILE) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path)
        raise ValueError(f"{path}: {where or '(top level)'}: {exc.message}") from None
    for entry in data:
        if "".join(entry["delta_texts"]) != entry["model_output"]:
            raise ValueError(f"{path}: finding {entry['id']}: delta_texts do not concatenate to model_output")
        if entry["id"] not in INPUT_CLASSES:
            raise ValueError(f"{path}: finding {entry['id']}: no input class in {__name__}.INPUT_CLASSES; "
                             f"allowed values: {', '.join(INPUT_CLASSES)}")
    unrecorded = set(INPUT_CLASSES) - {entry["id"] for entry in data}
    if unrecorded:
        raise ValueError(f"{path}: input classes {sorted(unrecorded)} are excluded from the properties "
                         f"but have no recorded finding")
    return data


# -- input classes of the recorded findings (id -> (parser, predicate over a generated output)) --
_EXPONENT = re.compile(r"[0-9.][eE][+-]?[0-9]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")

A, B, C = ("test_tool_calls_parsed_equal_generated", "test_tool_calls_streamed_equal_non_streaming",
           "test_text_around_tool_calls_is_content")
# finding id -> (the properties it breaks, predicate over a generated output)
INPUT_CLASSES: dict[str, tuple[tuple[str, ...], callable]] = {
    # A string spelled with JSON's \uXXXX surrogate-pair escapes (json.dumps(..., ensure_ascii=True)
    # of a character outside the BMP, e.g. an emoji).
    "surrogate_pair_escape": ((A, B), lambda out: bool(_SURROGATE_ESCAPE.search(out.text))),
    # Text both before and after the call block (non-streaming joins the two with a newline).
    "content_joined_with_newline": ((C,), lambda out: bool(out.before.strip() and out.after.strip())),
    # Whitespace at an edge of the text before or after the block (non-streaming strips it).
    "whitespace_around_block": ((C,), lambda out: out.before != out.before.strip() or out.after != out.after.strip()),
    # Text after the block starting with "[" or "<" (streaming holds it back as a suspected echo).
    "trailing_bracket_text_dropped": ((C,), lambda out: out.after.lstrip().startswith(("[", "<"))),
    # A number written in exponent notation (1.5e+16) in a call (streamed digit by digit it changes).
    "float_exponent_streamed": ((B,), lambda out: bool(_EXPONENT.search(out.block))),
}


def assume_not_recorded(prop: str, output) -> None:
    """Skip (hypothesis `assume`) only outputs of a class a recorded finding of this property covers."""
    for props, applies in INPUT_CLASSES.values():
        if prop in props:
            assume(not applies(output))


@lru_cache(maxsize=None)
def _serving_parser(path: str, args: tuple) -> ServingParser:
    return ServingParser(path, args)


@lru_cache(maxsize=None)
def _driver_unsupported() -> str | None:
    return unsupported_reason(deviations.installed_vllm_version())


def serving_parser(model, matrix, target) -> ServingParser:
    """The model's parsers with its server's flags and tokenizer (fixture on CPU, HF id on GPU).
    Skips the test (not applicable) where the installed vLLM lacks the API the driver calls: a
    limitation of the suite's driver is not a verdict on vLLM."""
    if (reason := _driver_unsupported()) is not None:
        pytest.skip(reason)
    return _serving_parser(weights_path(model, matrix, target), matrix.serve_config(model, target).args)


_OUTCOMES: dict[tuple, tuple[str, BaseException | None]] = {}


def run_once(prop, parser: ServingParser, model_name: str) -> None:
    """Run a property once per parser configuration: models whose servers run the same parsers
    with the same tokenizer (CPU models sharing a fixture and flags) get the identical outcome,
    re-raised, instead of re-running identical examples."""
    key = (prop.__name__, id(parser))
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
