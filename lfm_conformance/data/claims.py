"""The usage guide's testable claims as data (suites/claims.yaml, validated by claims.schema.json):
each quotes the guide, names the matrix models / GPUs / targets it is about and the suite tests that
verify it (or why nothing can), and says when a CPU pass proves nothing. Errata record where the
guide contradicts itself and which reading the suite checks. The ratchet rules
(`unchecked`, `unknown_checks`, `unclaimed`) are kept by tests/test_claims.py."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.data import schema

ROOT = Path(__file__).resolve().parents[2]
CLAIMS_FILE = ROOT / "suites" / "claims.yaml"
SUITES_DIR = ROOT / "suites"
SCHEMA_PATH = Path(__file__).with_name("claims.schema.json")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built: the file is long


class ClaimsError(ValueError):
    """claims.yaml is unreadable or invalid; one line naming the file, the field and what is allowed."""


@dataclass(frozen=True)
class CheckRef:
    """A suite test that verifies (part of) a claim: suites/test_<suite>.py::<test>[<case>]; `test`
    and `case` are globs (`case` over the record's case); `matrix` names the matrix.yaml field
    holding the fact the test asserts."""

    file: str
    test: str
    case: str | None = None
    matrix: str | None = None

    @property
    def suite(self) -> str:
        return Path(self.file).stem.removeprefix("test_")

    def names(self, check: str, cases: tuple[str, ...] | None = None) -> bool:
        """Whether this ref names the test `check` (and, where both name one, one of `cases`)."""
        if not fnmatchcase(check, self.test):
            return False
        return self.case is None or cases is None or any(fnmatchcase(c, self.case) for c in cases)

    def matches(self, record: dict) -> bool:
        return (record["suite"] == self.suite and fnmatchcase(record["check"], self.test)
                and (self.case is None or fnmatchcase(record.get("case") or "", self.case)))

    def __str__(self) -> str:
        return f"{self.file}::{self.test}" + (f"[{self.case}]" if self.case else "")


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    quote: str
    checks: tuple[CheckRef, ...]
    models: tuple[str, ...] | None = None  # None: every model
    gpus: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    uncheckable: str | None = None
    real_weights_only: str | None = None
    gpu_only: str | None = None
    note: str | None = None

    def applies(self, record: dict) -> bool:
        """Whether a record is about this claim's models (GPUs and targets are whole columns: see
        lfm_conformance/report/coverage.py)."""
        return self.models is None or record["model"] in self.models


@dataclass(frozen=True)
class Reading:
    id: str
    section: str | None  # a reading of the guide: section and quote
    quote: str | None
    source: str | None  # a reading from elsewhere (the published recipe data): where and what it says
    text: str | None
    gpus: tuple[str, ...] | None

    @property
    def words(self) -> str:
        return self.quote if self.quote is not None else self.text

    @property
    def where(self) -> str:
        return f"guide, {self.section}" if self.section is not None else self.source


@dataclass(frozen=True)
class Erratum:
    id: str
    about: str
    models: tuple[str, ...]
    readings: tuple[Reading, ...]
    suite_checks: str
    why: str


@dataclass(frozen=True)
class Claims:
    path: Path
    claims: tuple[Claim, ...]
    errata: tuple[Erratum, ...]

    def sections(self) -> list[str]:
        return list(dict.fromkeys(c.section for c in self.claims))

    def verified_by(self, check: str, cases: tuple[str, ...] | None = None) -> tuple[Claim, ...]:
        """The claims (in file order) one of whose checks names `check` (and a case of `cases`)."""
        return tuple(c for c in self.claims if any(ref.names(check, cases) for ref in c.checks))


def parse_check(entry) -> CheckRef:
    ref, matrix_field = (entry, None) if isinstance(entry, str) else (entry["test"], entry["matrix"])
    file, _, test = ref.partition("::")
    case = None
    if test.endswith("]"):
        test, _, case = test[:-1].partition("[")
    return CheckRef(file, test, case, matrix_field)


def load(path: Path = CLAIMS_FILE, matrix: matrix_mod.Matrix | None = None) -> Claims:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    except OSError as exc:
        raise ClaimsError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ClaimsError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    schema.check(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), path, ClaimsError)
    matrix = matrix or matrix_mod.load()
    raw = yaml.load(Path(matrix.path).read_text(encoding="utf-8"), Loader=LOADER)
    _check_names(path, data, matrix, raw)
    claims = tuple(Claim(
        c["id"], c["section"], c["quote"], tuple(parse_check(e) for e in c["checks"]),
        *(tuple(c["applies_to"][k]) if k in c.get("applies_to", {}) else None for k in ("models", "gpus", "targets")),
        c.get("uncheckable"), c.get("real_weights_only"), c.get("gpu_only"), c.get("note")) for c in data["claims"])
    errata = tuple(Erratum(
        e["id"], e["about"], tuple(e["models"]),
        tuple(Reading(r["id"], r.get("section"), r.get("quote"), r.get("source"), r.get("text"),
                      tuple(r["gpus"]) if "gpus" in r else None) for r in e["readings"]),
        e["suite_checks"], e["why"]) for e in data["errata"])
    return Claims(path, claims, errata)


def _check_names(path: Path, data: dict, matrix: matrix_mod.Matrix, raw: dict) -> None:
    """Ids unique, matrix names known, matrix fields present, each erratum's checked reading its own."""
    allowed = {"models": list(matrix.models), "gpus": list(matrix.gpus), "targets": list(matrix.targets)}

    def names(where: str, kind: str, values) -> None:
        for i, value in enumerate(values):
            if value not in allowed[kind]:
                raise ClaimsError(f"{path}: {where}.{kind}[{i}]: {value!r} is not allowed; allowed values: "
                                  f"{', '.join(allowed[kind])} ({matrix.path} {kind})")

    for key in ("claims", "errata"):
        seen = set()
        for i, entry in enumerate(data[key]):
            if entry["id"] in seen:
                raise ClaimsError(f"{path}: {key}[{i}].id: {entry['id']!r} is used twice; ids must be unique")
            seen.add(entry["id"])
    for i, claim in enumerate(data["claims"]):
        for kind, values in claim.get("applies_to", {}).items():
            names(f"claims[{i}].applies_to", kind, values)
        for j, entry in enumerate(claim["checks"]):
            if isinstance(entry, dict) and not matrix_fields(raw, entry["matrix"]):
                raise ClaimsError(f"{path}: claims[{i}].checks[{j}].matrix: {entry['matrix']!r} names no field of "
                                  f"{matrix.path} (claim {claim['id']})")
    for i, erratum in enumerate(data["errata"]):
        names(f"errata[{i}]", "models", erratum["models"])
        for j, reading in enumerate(erratum["readings"]):
            names(f"errata[{i}].readings[{j}]", "gpus", reading.get("gpus", ()))
        ids = [r["id"] for r in erratum["readings"]]
        if erratum["suite_checks"] not in ids:
            raise ClaimsError(f"{path}: errata[{i}].suite_checks: {erratum['suite_checks']!r} is not allowed; "
                              f"allowed values: {', '.join(ids)} (erratum {erratum['id']})")


def matrix_fields(raw: dict, dotted: str) -> list:
    """The values a dotted matrix.yaml path names; keys may hold dots ("models.LFM2.5-230M.context"),
    "*" stands for every key."""
    if not dotted:
        return [raw]
    if not isinstance(raw, dict):
        return []
    if dotted == "*" or dotted.startswith("*."):
        rest = dotted[2:]
        return [v for value in raw.values() for v in matrix_fields(value, rest)]
    for key in sorted(raw, key=lambda k: -len(str(k))):
        key_s = str(key)
        if dotted == key_s:
            return [raw[key]]
        if dotted.startswith(key_s + "."):
            return matrix_fields(raw[key], dotted[len(key_s) + 1:])
    return []


# -- the suites' tests, read with ast (nothing imported) ------------------------------------------------
def suite_tests(suites_dir: Path = SUITES_DIR) -> dict[str, dict[str, frozenset | None]]:
    """suites/test_*.py -> {test function: its case ids}: a frozenset of pytest ids where the
    parametrize decorator spells them out, empty when the test takes no case, None when they come
    from data (unknown here)."""
    found = {}
    for path in sorted(Path(suites_dir).glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lists = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, (ast.List, ast.Tuple))}
        generated = any(isinstance(n, ast.FunctionDef) and n.name == "pytest_generate_tests" for n in tree.body)
        tests = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                tests[node.name] = _cases(node, lists, generated)
        found[f"suites/{path.name}"] = tests
    return found


def _cases(func: ast.FunctionDef, lists: dict, generated: bool) -> frozenset | None:
    marks = [d for d in func.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize"]
    if not marks:
        return None if generated else frozenset()
    if len(marks) > 1 or generated:
        return None
    mark = marks[0]
    ids = next((k.value for k in mark.keywords if k.arg == "ids"), None)
    values = mark.args[1] if len(mark.args) > 1 else None
    for node in (ids, values):
        node = lists.get(node.id) if isinstance(node, ast.Name) else node
        if isinstance(node, (ast.List, ast.Tuple)):
            found = [_param_id(e) for e in node.elts]
            if all(i is not None for i in found):
                return frozenset(found)
    return None


def _param_id(node) -> str | None:
    """pytest's id of one parametrize value, where the source spells it out."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
        return str(node.value)
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "param":
        return next((k.value.value for k in node.keywords if k.arg == "id" and isinstance(k.value, ast.Constant)), None)
    return None


# -- the ratchet -----------------------------------------------------------------------------------------
def unchecked(claims) -> list[str]:
    """Claims with neither a check nor a reason why nothing can check them (or with both)."""
    out = []
    for c in claims:
        if not c.checks and not c.uncheckable:
            out.append(f"claim {c.id}: no check and no `uncheckable` reason")
        elif c.checks and c.uncheckable:
            out.append(f"claim {c.id}: has checks and an `uncheckable` reason; keep one")
    return out


def unknown_checks(claims, tests: dict[str, dict[str, frozenset | None]], extra_cases: dict | None = None) -> list[str]:
    """Checks naming a test (or a case of it) the suites do not have. `extra_cases`: (file, test) ->
    case ids for tests parametrized from data."""
    out = []
    for c in claims:
        for ref in c.checks:
            names = [t for t in tests.get(ref.file, {}) if fnmatchcase(t, ref.test)]
            if ref.file not in tests:
                out.append(f"claim {c.id}: check {ref}: no suite file {ref.file}")
            elif not names:
                out.append(f"claim {c.id}: check {ref}: {ref.file} has no test {ref.test}")
            elif ref.case is not None:
                cases = [(extra_cases or {}).get((ref.file, t), tests[ref.file][t]) for t in names]
                if any(k is None for k in cases):
                    continue  # cases from data nobody resolved: not checked here
                if not any(fnmatchcase(k, ref.case) for ks in cases for k in ks):
                    known = sorted({k for ks in cases for k in ks})
                    out.append(f"claim {c.id}: check {ref}: no case {ref.case!r}; "
                               + (f"allowed values: {', '.join(known)}" if known else f"{ref.test} takes no case"))
    return out


def unclaimed(claims, tests: dict[str, dict]) -> list[str]:
    """Suite tests that verify no claim."""
    refs = [ref for c in claims for ref in c.checks]
    return [f"{file}::{name} verifies no claim of the guide (reference it from a claim in suites/claims.yaml)"
            for file, names in tests.items() for name in names
            if not any(ref.file == file and fnmatchcase(name, ref.test) for ref in refs)]


def quote_problems(claims: Claims, guide) -> list[str]:
    """Claims and erratum readings whose quote is not, verbatim, in their section of the guide."""
    out = []
    places = [(f"claim {c.id}", c.section, c.quote) for c in claims.claims]
    places += [(f"erratum {e.id} reading {r.id}", r.section, r.quote) for e in claims.errata for r in e.readings
               if r.quote is not None]
    for who, section, quote in places:
        if section not in guide.sections:
            out.append(f"{who}: section {section!r} is not a heading of the guide; allowed values: "
                       f"{', '.join(guide.sections)}")
        elif not guide.contains(section, quote):
            out.append(f"{who}: quote not found verbatim in section {section!r}: {quote!r}")
    return out
