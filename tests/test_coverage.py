"""Guide coverage from hand-made results documents (lfm_conformance/report/coverage.py): every status a
claim can have on a GPU/target, the per-section summary, the unverified list, the errata rows and the
command line. Nothing shows verified unless an assertion ran."""
from __future__ import annotations

import json

import jsonschema
import pytest

from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.report import coverage, results
from tests import results_factory as factory

LOADING = "suites/test_loading.py::test_first_request_returns_text"
TOOLS = "suites/test_tool_calls.py::test_parallel_tool_calls[streaming]"


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


def claim(cid="c", checks=(LOADING,), section="Docker", **fields) -> claims_mod.Claim:
    return claims_mod.Claim(cid, section, f"quote of {cid}", tuple(claims_mod.parse_check(c) for c in checks), **fields)


def status_of(matrix, one: claims_mod.Claim, records, where="cpu") -> tuple[str, str]:
    doc = factory.doc(where=where, records=records)
    cov = coverage.build(doc, claims_mod.Claims(claims_mod.CLAIMS_FILE, (one,), ()), matrix)
    row = cov["claims"][0]
    return row["status"][where], row["detail"][where]


def rec(status="pass", check="test_first_request_returns_text", suite="loading", model="LFM2.5-230M", where="cpu",
        case=None, reason="") -> dict:
    return factory.record(model=model, where=where, suite=suite, check=check, status=status, case=case, reason=reason)


def test_verified_when_every_applicable_record_passed(matrix):
    records = [rec(), rec(model="LFM2.5-350M")]
    assert status_of(matrix, claim(), records) == ("verified", "2 records passed")


@pytest.mark.parametrize("status,expected", [
    ("fail", "failed"), ("error", "failed"), ("unexpected-pass", "failed"), ("not-run", "not-run"),
    ("skipped", "not-run"), ("pending", "pending"), ("known-deviation", "deviation"), ("measured", "measured"),
])
def test_one_record_short_of_pass_decides(matrix, status, expected):
    records = [rec(), rec(status=status, model="LFM2.5-350M", reason=f"why {status}")]
    got, detail = status_of(matrix, claim(), records)
    assert got == expected
    assert detail.endswith(f"test_first_request_returns_text: why {status} (LFM2.5-350M)")


def test_a_check_without_any_record_leaves_the_claim_not_run(matrix):
    got, detail = status_of(matrix, claim(checks=(LOADING, TOOLS)), [rec()])
    assert (got, detail) == ("not-run", f"no record of {TOOLS}")


def test_nothing_is_verified_without_an_assertion(matrix):
    """Only not-applicable records: the claim is not about this run's models; no record: not run."""
    na = [rec(status="not-applicable", reason="not applicable: LFM2.5-230M has no vision capability in the guide")]
    assert status_of(matrix, claim(), na) == ("not-applicable", na[0]["reason"])
    assert status_of(matrix, claim(), [])[0] == "not-run"


def test_case_filter_and_models_choose_the_records(matrix):
    records = [rec(suite="tool_calls", check="test_parallel_tool_calls", case="streaming"),
               rec(suite="tool_calls", check="test_parallel_tool_calls", case="non-streaming", status="fail"),
               rec(suite="tool_calls", check="test_parallel_tool_calls", case="streaming", model="LFM2.5-350M",
                   status="fail")]
    assert status_of(matrix, claim(checks=(TOOLS,), models=("LFM2.5-230M",)), records)[0] == "verified"
    assert status_of(matrix, claim(checks=(TOOLS,)), records)[0] == "failed"


def test_gpu_only_and_real_weights_only_on_cpu_but_checked_on_a_gpu(matrix):
    gpu_claim = claim(gpu_only="needs the GPU")
    assert status_of(matrix, gpu_claim, [rec()]) == ("gpu-only", "needs the GPU")
    assert status_of(matrix, gpu_claim, [rec(where="H100")], where="H100")[0] == "verified"
    weights_claim = claim(real_weights_only="the fixture was built from matrix.yaml")
    assert status_of(matrix, weights_claim, [rec()]) == ("real-weights-only", "the fixture was built from matrix.yaml")
    assert status_of(matrix, weights_claim, [rec(where="H100")], where="H100")[0] == "verified"


@pytest.mark.parametrize("label", [{"gpu_only": "needs the GPU"}, {"real_weights_only": "built from matrix.yaml"}])
@pytest.mark.parametrize("status", ["fail", "error", "unexpected-pass"])
def test_a_check_failing_on_cpu_fails_a_gpu_only_or_real_weights_claim_too(matrix, label, status):
    assert status_of(matrix, claim(**label), [rec(), rec(status=status, model="LFM2.5-350M")])[0] == "failed"


def test_uncheckable_whatever_the_records(matrix):
    assert status_of(matrix, claim(checks=(), uncheckable="marketing"), [rec()]) == ("uncheckable", "marketing")


def test_a_claim_about_other_gpus_is_not_applicable_and_one_naming_this_gpu_is_not_run_when_skipped(matrix):
    b200 = claim(gpus=("B200",))
    assert status_of(matrix, b200, [rec(where="H100")], where="H100") == ("not-applicable", "the claim is about B200")
    na = rec(where="L4", model="LFM2.5-8B-A1B", status="not-applicable",
             reason="not applicable: the guide lists LFM2.5-8B-A1B on H100, H200, B200 only, not on L4")
    got, detail = status_of(matrix, claim(gpus=("L4", "H100"), models=("LFM2.5-8B-A1B",)), [na], where="L4")
    assert got == "not-run" and "not on L4" in detail


def test_sections_counts_and_unverified_list(matrix):
    found = claims_mod.Claims(claims_mod.CLAIMS_FILE, (
        claim("a", section="Docker"), claim("b", section="Docker", checks=(TOOLS,)),
        claim("c", section="Benchmarking", checks=(), uncheckable="no figure")), ())
    cov = coverage.build(factory.doc(records=[rec()]), found, matrix)
    assert cov["wheres"] == ["cpu"]
    assert [(s["section"], s["claims"]) for s in cov["sections"]] == [("Docker", 2), ("Benchmarking", 1)]
    assert {k: v for k, v in cov["counts"]["cpu"].items() if v} == {"verified": 1, "not-run": 1, "uncheckable": 1}
    assert cov["unverified"] == ["b"]
    text = "\n".join(coverage.table_lines(cov) + coverage.summary_lines(cov))
    assert "b     | Docker       | not run here" in text
    assert "  Docker (2): cpu: 1 not run here, 1 verified" in text
    assert f"  b: cpu not run here: no record of {TOOLS}" in text


def test_several_gpus_each_get_a_column(matrix):
    doc = factory.doc(records=[rec()])
    h100 = factory.doc(where="H100", records=[rec(where="H100", status="fail", reason="no text")])
    merged = {**doc, "runs": doc["runs"] + h100["runs"], "records": doc["records"] + h100["records"]}
    one = claims_mod.Claims(claims_mod.CLAIMS_FILE, (claim(),), ())
    cov = coverage.build(merged, one, matrix)
    assert cov["claims"][0]["status"] == {"cpu": "verified", "H100": "failed"}
    assert cov["unverified"] == []  # verified somewhere: listed per GPU in the table, not as unverified


def test_errata_rows_say_which_reading_the_suite_checks_per_gpu(matrix):
    claims = claims_mod.load(matrix=matrix)
    moe = next(e for e in claims.errata if e.id == "8b-a1b-gpus")
    rows = {r["gpu"]: r for r in coverage.erratum_view(moe, matrix)["rows"]}
    assert rows["T4"] == {"gpu": "T4", "readings": [], "suite": "n/a"}
    assert rows["L4"] == {"gpu": "L4", "readings": ["table-24gb", "sizing-l4-a10g"], "suite": "runs"}
    assert rows["H100"]["readings"] == ["table-24gb", "sizing-l4-a10g", "prose-list"] and rows["H100"]["suite"] == "runs"
    stale = claims_mod.Erratum(moe.id, moe.about, moe.models, moe.readings, "prose-list", moe.why)
    assert coverage.suite_reading_problems(stale, matrix)[0] == (
        "erratum 8b-a1b-gpus: on L4 the suite runs but reading prose-list (suite_checks) says n/a")


def test_an_invalid_claims_file_is_an_error_entry_not_a_crash(tmp_path, matrix):
    bad = tmp_path / "claims.yaml"
    bad.write_text("claims: []\nerrata: []\n")
    cov = coverage.build(factory.doc(), matrix=matrix, claims_file=bad)
    assert cov == {"error": f"{bad}: claims: [] should be non-empty"}


def test_command_line_prints_the_table_for_a_run_and_the_claims_without_one(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(factory.doc(records=[rec()])))
    assert coverage.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("claim ") and "openai-api-serves-every-model" in out and "not verified by this run" in out
    assert coverage.main(["--claims"]) == 0
    out = capsys.readouterr().out
    assert "- docker-run-command: \"docker run -itd --name lfm2.5" in out
    assert "    check suites/test_guide_data.py::test_docker_command_equals_guide" in out
    assert coverage.main([str(tmp_path / "missing.json")]) == 2
    assert "not a readable results.json" in capsys.readouterr().err


# -- in the results document --------------------------------------------------------------------------------
def test_the_results_document_carries_coverage_valid_per_its_schema():
    validator = jsonschema.Draft202012Validator(results.schema())
    doc = factory.doc()
    validator.validate(doc)
    assert doc["coverage"]["wheres"] == ["cpu"] and len(doc["coverage"]["claims"]) == len(claims_mod.load().claims)
    older = {k: v for k, v in doc.items() if k != "coverage"}  # files written before coverage existed
    validator.validate(older)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**doc, "coverage": {**doc["coverage"], "counts": {"cpu": {"proven": 1}}}})


def test_a_merged_document_recomputes_coverage_per_gpu():
    cpu, h100 = factory.doc(), factory.doc(where="H100")
    merged = results.assemble(cpu["runs"] + h100["runs"], cpu["records"] + h100["records"])
    assert merged["coverage"]["wheres"] == ["cpu", "H100"]
