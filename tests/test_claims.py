"""Guide-claim traceability (suites/claims.yaml): the ratchet. Every quote is the guide's own text,
in the section named; every claim has a check or a reviewed reason why none can exist; every check
names a real suite test (and case); every conformance test in suites/ verifies some claim; each
erratum's `suite_checks` is what matrix.yaml does. The rules are shown failing on hand-made claims."""
from __future__ import annotations

import pytest
import yaml

from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import guide as guide_mod
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.parsers import parser_findings
from lfm_conformance.report import coverage


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


@pytest.fixture(scope="module")
def claims(matrix):
    return claims_mod.load(matrix=matrix)


def suite_tests(matrix) -> dict:
    """The suites' tests as the ratchet sees them: `def test_*` (ast) plus the tests
    suites/test_parser_findings.py makes per recorded finding."""
    tests = claims_mod.suite_tests()
    findings = parser_findings.load()
    generated = {f"test_parser_finding_{f['id']}": frozenset() for f in findings}
    generated |= {f"test_parser_finding_{f['id']}_end_to_end": frozenset() for f in findings if f["parser"] == "tools"}
    tests["suites/test_parser_findings.py"] = {**tests.get("suites/test_parser_findings.py", {}), **generated}
    return tests


def data_cases(matrix) -> dict:
    """Case ids of the tests parametrized from data that claims filter on: perf settings, Docker GPUs."""
    settings = frozenset(["baseline", *(k["name"] for k in matrix.benchmarks["knobs"])])
    perf = {("suites/test_perf.py", t): settings for t in claims_mod.suite_tests()["suites/test_perf.py"]}
    return {**perf, ("suites/test_guide_data.py", "test_docker_command_equals_guide"): frozenset(matrix.gpus)}


# -- the real claims --------------------------------------------------------------------------------------
def test_every_quote_is_the_guides_text_in_its_section(claims):
    assert claims_mod.quote_problems(claims, guide_mod.load()) == []


def test_the_guide_copy_is_the_shared_guide():
    if not guide_mod.SHARED_GUIDE.exists():
        pytest.skip(f"not run: no {guide_mod.SHARED_GUIDE} on this machine to compare with")
    assert guide_mod.GUIDE_FILE.read_bytes() == guide_mod.SHARED_GUIDE.read_bytes(), (
        f"{guide_mod.GUIDE_FILE} differs from {guide_mod.SHARED_GUIDE}: copy the guide again and review the claims")


def test_every_claim_has_a_check_or_a_reason(claims):
    assert claims_mod.unchecked(claims.claims) == []


def test_every_check_names_a_real_test_and_case(claims, matrix):
    assert claims_mod.unknown_checks(claims.claims, suite_tests(matrix), data_cases(matrix)) == []


def test_every_suite_test_verifies_a_claim(claims, matrix):
    assert claims_mod.unclaimed(claims.claims, suite_tests(matrix)) == []


def test_each_erratum_names_the_reading_matrix_yaml_follows(claims, matrix):
    assert [p for e in claims.errata for p in coverage.suite_reading_problems(e, matrix)] == []


def test_every_section_with_claims_is_a_heading_and_counts_add_up(claims):
    sections = guide_mod.load().sections
    assert set(claims.sections()) <= set(sections)
    assert sum(1 for _ in claims.claims) == len({c.id for c in claims.claims})


# -- the ratchet rules on hand-made claims ------------------------------------------------------------------
def claim(cid="c", checks=(), **fields) -> claims_mod.Claim:
    return claims_mod.Claim(cid, "Docker", "docker pull", tuple(claims_mod.parse_check(c) for c in checks), **fields)


TESTS = {"suites/test_x.py": {"test_plain": frozenset(), "test_cases": frozenset({"streaming", "non-streaming"}),
                              "test_from_data": None}}


def test_a_claim_without_check_or_reason_is_named():
    assert claims_mod.unchecked([claim("bare"), claim("why", uncheckable="marketing")]) == [
        "claim bare: no check and no `uncheckable` reason"]
    assert claims_mod.unchecked([claim("both", ["suites/test_x.py::test_plain"], uncheckable="x")]) == [
        "claim both: has checks and an `uncheckable` reason; keep one"]


@pytest.mark.parametrize("ref,problem", [
    ("suites/test_x.py::test_gone", "claim c: check suites/test_x.py::test_gone: suites/test_x.py has no test test_gone"),
    ("suites/test_y.py::test_plain", "claim c: check suites/test_y.py::test_plain: no suite file suites/test_y.py"),
    ("suites/test_x.py::test_cases[streamed]", "claim c: check suites/test_x.py::test_cases[streamed]: no case "
     "'streamed'; allowed values: non-streaming, streaming"),
    ("suites/test_x.py::test_plain[B200]", "claim c: check suites/test_x.py::test_plain[B200]: no case 'B200'; "
     "test_plain takes no case"),
])
def test_a_check_naming_no_real_test_or_case_is_named(ref, problem):
    assert claims_mod.unknown_checks([claim(checks=[ref])], TESTS) == [problem]


def test_real_tests_and_cases_pass_and_data_cases_resolve():
    refs = ["suites/test_x.py::test_plain", "suites/test_x.py::test_cases[*streaming]", "suites/test_x.py::test_from_data[a]"]
    assert claims_mod.unknown_checks([claim(checks=refs)], TESTS) == []
    extra = {("suites/test_x.py", "test_from_data"): frozenset({"b"})}
    assert claims_mod.unknown_checks([claim(checks=refs)], TESTS, extra) == [
        "claim c: check suites/test_x.py::test_from_data[a]: no case 'a'; allowed values: b"]


def test_a_suite_test_verifying_no_claim_is_named():
    assert claims_mod.unclaimed([claim(checks=["suites/test_x.py::test_cases[streaming]"])], TESTS) == [
        "suites/test_x.py::test_plain verifies no claim of the guide (reference it from a claim in suites/claims.yaml)",
        "suites/test_x.py::test_from_data verifies no claim of the guide (reference it from a claim in suites/claims.yaml)"]
    assert claims_mod.unclaimed([claim(checks=["suites/test_x.py::test_*"])], TESTS) == []


def test_a_quote_not_in_its_section_is_named():
    guide = guide_mod.parse("Docker¶\ndocker pull   vllm/vllm-openai:latest\nOther¶\nmore text\n")
    found = claims_mod.Claims(claims_mod.CLAIMS_FILE, (
        claims_mod.Claim("ok", "Docker", "docker pull vllm/vllm-openai:latest", ()),
        claims_mod.Claim("moved", "Other", "docker pull", ()),
        claims_mod.Claim("nowhere", "Setup", "x", ())), ())
    assert claims_mod.quote_problems(found, guide) == [
        "claim moved: quote not found verbatim in section 'Other': 'docker pull'",
        "claim nowhere: section 'Setup' is not a heading of the guide; allowed values: Docker, Other"]


def test_ast_reads_literal_case_ids(tmp_path):
    (tmp_path / "test_z.py").write_text(
        "import pytest\nVALUES = [pytest.param(1, id='one'), pytest.param(2, id='two')]\n"
        "@pytest.mark.parametrize('v', VALUES)\ndef test_a(model, v): pass\n"
        "@pytest.mark.parametrize('s', [False, True], ids=['off', 'on'])\ndef test_b(model, s): pass\n"
        "@pytest.mark.parametrize('p', ['x', 'y'])\ndef test_c(model, p): pass\n"
        "def test_d(model): pass\ndef helper(): pass\n")
    assert claims_mod.suite_tests(tmp_path) == {"suites/test_z.py": {
        "test_a": frozenset({"one", "two"}), "test_b": frozenset({"off", "on"}), "test_c": frozenset({"x", "y"}),
        "test_d": frozenset()}}


# -- a bad claims file: one line naming the file, the field and what is allowed -----------------------------
def _write(tmp_path, data) -> object:
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


GOOD = {"id": "c", "section": "Docker", "quote": "docker pull", "checks": ["suites/test_x.py::test_a"]}


@pytest.mark.parametrize("change,message", [
    ({"colour": "red"}, r"claims\[0\]: unknown key 'colour'; allowed keys: applies_to, checks, gpu_only, id, note, "
                        r"quote, real_weights_only, section, uncheckable"),
    ({"applies_to": {"models": ["LFM2.5-9B"]}}, r"claims\[0\]\.applies_to\.models\[0\]: 'LFM2.5-9B' is not allowed; "
                                                r"allowed values: LFM2.5-230M, .*LFM2.5-VL-1.6B \(.*matrix.yaml models\)"),
    ({"applies_to": {"gpus": ["V100"]}}, r"claims\[0\]\.applies_to\.gpus\[0\]: 'V100' is not allowed; allowed values: T4, "),
    ({"checks": [{"test": "suites/test_x.py::test_a", "matrix": "models.LFM2.5-9B.context"}]},
     r"claims\[0\]\.checks\[0\]\.matrix: 'models.LFM2.5-9B.context' names no field of .*matrix.yaml \(claim c\)"),
    ({"id": "Bad Id"}, r"claims\[0\]\.id: 'Bad Id' does not match"),
])
def test_a_bad_claim_is_one_clear_error(tmp_path, matrix, change, message):
    path = _write(tmp_path, {"claims": [{**GOOD, **change}], "errata": []})
    with pytest.raises(claims_mod.ClaimsError, match=rf"^{tmp_path}/claims.yaml: {message}"):
        claims_mod.load(path, matrix=matrix)


def test_a_duplicate_id_and_a_foreign_reading_are_named(tmp_path, matrix):
    with pytest.raises(claims_mod.ClaimsError, match=r"claims\[1\]\.id: 'c' is used twice"):
        claims_mod.load(_write(tmp_path, {"claims": [GOOD, GOOD], "errata": []}), matrix=matrix)
    erratum = {"id": "e", "about": "x", "models": ["LFM2.5-230M"], "suite_checks": "third", "why": "y",
               "readings": [{"id": "one", "section": "Docker", "quote": "q"}, {"id": "two", "source": "s", "text": "t"}]}
    with pytest.raises(claims_mod.ClaimsError, match=r"errata\[0\]\.suite_checks: 'third' is not allowed; "
                                                     r"allowed values: one, two \(erratum e\)"):
        claims_mod.load(_write(tmp_path, {"claims": [GOOD], "errata": [erratum]}), matrix=matrix)


def test_matrix_fields_read_keys_with_dots():
    raw = {"models": {"LFM2.5-230M": {"context": 32768}, "LFM2.5-8B-A1B": {"context": 128000}}}
    assert claims_mod.matrix_fields(raw, "models.LFM2.5-8B-A1B.context") == [128000]
    assert claims_mod.matrix_fields(raw, "models.*.context") == [32768, 128000]
    assert claims_mod.matrix_fields(raw, "models.LFM2.5-8B.context") == []
