"""results.json, the sign-off report and JUnit XML from a nested run (under xdist, so the records
come from the workers' reports on the controller) of hand-written checks with every outcome, with
secrets in the environment that must not reach any report file. No vLLM server is started."""
import json
import os
import subprocess
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.report import results
from tests.conftest import ROOT, run_pytest

pytestmark = pytest.mark.xdist_group("results-fake-run")  # one nested run, on one worker of ./run tests

FAKE_HF_TOKEN = "hf_FAKEfakeFAKEfakeFAKEfakeFAKEfake0123"
FAKE_API_KEY = "sk-fake-api-key-0123456789"  # in MY_SERVICE_API_KEY, a name the redaction must recognise

CHECKS = textwrap.dedent('''
    import os
    from pathlib import Path

    import pytest

    from lfm_conformance.checks import CheckFailed
    from lfm_conformance.harness import outcomes


    @pytest.fixture
    def broken(model):
        raise RuntimeError("fixture broke before the check ran")


    def test_passes(model, record_property):
        record_property("figures", {"kind": "perf", "tokens_per_s": 12.5})


    def test_fails(model):
        raise CheckFailed("reply has no text", "non-empty content", "content ''", evidence='{"choices": []}')


    def test_known_deviation(model):
        raise CheckFailed("reasoning in the wrong field", "reasoning_content", "reasoning", evidence="now-seen")


    def test_no_longer_deviates(model):
        pass


    @pytest.mark.requires("vision")
    def test_vision_only(model):
        pass


    def test_skipped_for_a_reason(model):
        pytest.skip("needs a GPU")


    def test_setup_error(model, broken):
        pass


    def test_suite_bug(model):
        None.host  # AttributeError: the suite's own error, not a verdict on vLLM


    def test_measured_only(model, request, record_property):
        record_property("figures", {"kind": "perf", "tokens_per_s": 3.0})
        outcomes.measured(request.node)


    def test_pending_baseline(model):
        pytest.skip("pending: no baseline for LFM2.5-230M on cpu; record it with: ./run conformance -m perf")


    def test_deviation_failing_differently(model):
        raise CheckFailed("the server died after the request", "GET /health 200", "no answer")


    @pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
    def test_accuracy(model, stream, record_property):
        record_property("figures", {"kind": "accuracy", "task": "gsm8k", "metric": "exact_match",
                                    "measured": 0.5, "expected": 0.52, "rtol": 0.05, "samples": 100,
                                    "baseline_source": "fixture", "review": stream})


    def test_leaks_secrets(model, request, record_property):
        hf, key = os.environ["HF_TOKEN"], os.environ["MY_SERVICE_API_KEY"]
        logs = Path(request.config.getoption("--reports")) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "fake-server.log").write_text(f"non-default args: {{'api_key': ['{key}']}} HF_TOKEN={hf}\\n")
        print(f"token {hf} key {key}")
        record_property("figures", {"kind": "robustness", "note": hf})
        raise CheckFailed("request refused", "200", f"401 for key {key}", evidence=f"HF_TOKEN={hf}")
''')


def _deviations(path: Path) -> Path:
    entry = {"owner": "guide", "models": ["LFM2.5-230M"], "vllm": ">=0", "documented": "reasoning_content",
             "observed": "reasoning", "evidence": "recorded-evidence",
             "signature": {"problem": "^reasoning in the wrong field$", "observed": "^reasoning$"}}
    path.write_text(yaml.safe_dump([{"id": "fake-renamed", "check": "test_known_deviation", **entry},
                                    {"id": "fake-gone", "check": "test_no_longer_deviates", **entry},
                                    {"id": "fake-other", "check": "test_deviation_failing_differently", **entry}]))
    return path


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fake-run")
    (tmp / "test_fake_suite.py").write_text(CHECKS)
    reports = tmp / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", FAKE_HF_TOKEN)
        mp.setenv("MY_SERVICE_API_KEY", FAKE_API_KEY)
        proc = run_pytest(str(tmp / "test_fake_suite.py"), "-p", "lfm_conformance.harness.plugin", "-m", "model_230m",
                          "-n", "2", f"--deviations={_deviations(tmp / 'dev.yaml')}", f"--reports={reports}",
                          timeout=300)
    doc = json.loads((reports / "results.json").read_text())
    return proc, reports, doc


def _by_check(doc):
    return {r["check"] + (f"[{r['case']}]" if r["case"] else ""): r for r in doc["records"]}


def test_every_outcome_becomes_a_record(fake_run):
    proc, _, doc = fake_run
    assert proc.returncode == 1, proc.stdout[-3000:]
    statuses = {check: r["status"] for check, r in _by_check(doc).items()}
    assert statuses == {
        "test_passes": "pass", "test_fails": "fail", "test_known_deviation": "known-deviation",
        "test_no_longer_deviates": "unexpected-pass", "test_vision_only": "not-applicable",
        "test_skipped_for_a_reason": "not-run", "test_setup_error": "error", "test_suite_bug": "error",
        "test_measured_only": "measured", "test_pending_baseline": "pending", "test_deviation_failing_differently": "fail",
        "test_accuracy[non-streaming]": "pass", "test_accuracy[streaming]": "pass", "test_leaks_secrets": "fail"}
    for rec in doc["records"]:
        assert (rec["model"], rec["where"], rec["target"], rec["suite"]) == ("LFM2.5-230M", "cpu", "cpu", "fake_suite")


def test_results_json_matches_its_schema(fake_run):
    jsonschema.Draft202012Validator(results.schema()).validate(fake_run[2])


def test_reasons_evidence_and_deviations(fake_run):
    recs = _by_check(fake_run[2])
    assert recs["test_fails"]["reason"] == "reply has no text"
    assert "expected: non-empty content" in recs["test_fails"]["evidence"]
    assert "test_fake_suite.py:" in recs["test_fails"]["evidence"]  # where it was raised
    assert recs["test_setup_error"]["reason"].startswith("in setup: RuntimeError: fixture broke")
    assert recs["test_vision_only"]["reason"] == "not applicable: LFM2.5-230M has no vision capability in the guide"
    assert recs["test_skipped_for_a_reason"]["reason"] == "needs a GPU"
    dev = recs["test_known_deviation"]
    assert dev["deviation"]["id"] == "fake-renamed" and dev["deviation"]["evidence"] == "recorded-evidence"
    assert "now-seen" in dev["evidence"] and dev["reason"].startswith("known deviation fake-renamed")
    gone = recs["test_no_longer_deviates"]
    assert gone["deviation"]["id"] == "fake-gone" and "no longer happens" in gone["reason"]
    assert recs["test_passes"]["evidence"] is None and recs["test_passes"]["duration_s"] >= 0
    assert recs["test_suite_bug"]["reason"].startswith("AttributeError: 'NoneType' object has no attribute 'host'")
    other = recs["test_deviation_failing_differently"]
    assert other["reason"] == "the server died after the request (differs from known deviation fake-other)"
    assert "covers only failures with" in other["evidence"] and "recorded observation: reasoning" in other["evidence"]


def test_figures_reach_the_records_and_the_accuracy_table(fake_run):
    _, reports, doc = fake_run
    recs = _by_check(doc)
    assert recs["test_passes"]["figures"] == [{"kind": "perf", "tokens_per_s": 12.5}]
    assert recs["test_accuracy[streaming]"]["figures"][0]["review"] is True
    md = (reports / "signoff.md").read_text()
    assert "| LFM2.5-230M | cpu | gsm8k | exact_match | 0.5 | 0.52 | -3.8% | 0.05 | 100 | fixture |" in md
    assert "tokens_per_s=12.5" in md


def test_environment_block(fake_run):
    doc = fake_run[2]
    (run,) = doc["runs"]
    assert run["environment"]["vllm"] and run["environment"]["packages"]["transformers"]
    assert run["environment"]["hardware"]["kind"] in ("cpu", "gpu") and run["environment"]["hardware"]["name"]
    assert run["matrix_sha256"] == matrix_mod.load().sha256 == doc["matrix_sha256"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert run["suite_commit"] == head == doc["suite_commit"]
    assert run["exit_status"] == 1 and run["selection"]["markers"] == "model_230m"
    assert run["started"] <= run["finished"]


def test_verdict_lists_the_failing_cells(fake_run):
    _, reports, doc = fake_run
    summary = doc["summary"]
    assert summary["verdict"] == "BLOCKED"
    assert [b.split(":")[0] for b in summary["blocking"]] == [
        "FAIL fake_suite / test_deviation_failing_differently", "FAIL fake_suite / test_fails",
        "FAIL fake_suite / test_leaks_secrets", "XPASS! fake_suite / test_no_longer_deviates"]
    assert [e.split(":")[0] for e in summary["suite_errors"]] == ["ERROR fake_suite / test_setup_error",
                                                                  "ERROR fake_suite / test_suite_bug"]
    assert summary["counts"]["known-deviation"] == 1 and summary["counts"]["pass"] == 3
    assert summary["counts"]["measured"] == 1 and summary["counts"]["pending"] == 1 and summary["counts"]["not-run"] == 1
    assert "a selection of the checks (-m 'model_230m')" in summary["scope"]
    md = (reports / "signoff.md").read_text()
    assert "**BLOCKED: FAIL fake_suite / test_deviation_failing_differently: the server died" in md
    assert "sign-off: BLOCKED" in fake_run[0].stdout


def test_all_four_outputs_are_written(fake_run):
    _, reports, _ = fake_run
    for name in ("junit.xml", "results.json", "signoff.md", "signoff.html"):
        assert (reports / name).stat().st_size > 0, name
    page = (reports / "signoff.html").read_text()
    assert "<script" not in page and "src=" not in page and "<link" not in page  # self-contained
    assert "Known deviations from the guide" in page and "fake-renamed" in page


def test_no_secret_in_any_report_file(fake_run):
    proc, reports, _ = fake_run
    assert FAKE_HF_TOKEN in proc.stdout  # the terminal shows the failure: the secrets did reach the run
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert {"junit.xml", "results.json", "signoff.md", "signoff.html", "fake-server.log"} <= {p.name for p in files}
    for path in files:
        text = path.read_text(errors="replace")
        assert FAKE_HF_TOKEN not in text and FAKE_API_KEY not in text, path


def test_plain_run_writes_junit_without_being_asked(tmp_path):
    """Without xdist and without --junitxml: the same four outputs; passing checks sign off."""
    (tmp_path / "test_ok.py").write_text("def test_passes(model):\n    pass\n")
    reports = tmp_path / "reports"
    proc = run_pytest(str(tmp_path / "test_ok.py"), "-p", "lfm_conformance.harness.plugin", "-m", "model_1_2b",
                      f"--reports={reports}", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    doc = json.loads((reports / "results.json").read_text())
    assert doc["summary"]["verdict"] == "INCOMPLETE" and len(doc["records"]) == 5  # a selection: never a sign-off
    assert (reports / "junit.xml").read_text().count("<testcase") == 5
    assert doc["summary"]["scope"][0] == "a selection of the checks (-m 'model_1_2b')"
    assert "**INCOMPLETE (5 PASS): no failure, but this run cannot sign off cpu: a selection" in (
        reports / "signoff.md").read_text()


def test_a_run_without_conformance_checks_writes_no_sign_off(tmp_path):
    """The project's own unit tests alone leave the last conformance report in place."""
    (tmp_path / "test_unit.py").write_text("def test_unit():\n    pass\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "signoff.md").write_text("the last conformance run's report")
    proc = run_pytest(str(tmp_path / "test_unit.py"), "-p", "lfm_conformance.harness.plugin", f"--reports={reports}",
                      timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (reports / "junit.xml").exists() and not (reports / "results.json").exists()
    assert (reports / "signoff.md").read_text() == "the last conformance run's report"


# -- unit tests on the pieces ---------------------------------------------------------------------
def test_case_is_the_parameters_besides_the_model():
    assert results._case("s/test_t.py::test_x[LFM2.5-230M-cpu]", "LFM2.5-230M-cpu") is None
    assert results._case("s/test_t.py::test_x[LFM2.5-230M-cpu-streaming]", "LFM2.5-230M-cpu") == "streaming"
    assert results._case("s/test_t.py::test_x[top_k=1-LFM2.5-230M-cpu]", "LFM2.5-230M-cpu") == "top_k=1"
    assert results._case("s/test_t.py::test_x", "LFM2.5-230M-cpu") is None


def test_case_survives_the_xdist_group_suffix():
    """Under -n (loadgroup) the node id ends in @<group>: the case is still the parameters."""
    nodeid = ("suites/test_generated_tool_calls.py::test_generated_call_parsed_non_streaming"
              "[LFM2.5-230M-gpu-fixture-generated_00]@gpu-fixture-dense-chat+tool_calling")
    assert results._case(nodeid, "LFM2.5-230M-gpu-fixture") == "generated_00"
    assert results._case("s/test_t.py::test_x[LFM2.5-230M-cpu]@cpu-dense-chat+max-model-len=2048",
                         "LFM2.5-230M-cpu") is None


@pytest.mark.parametrize("reported,label", [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA A100-SXM4-80GB", "A100-80GB"), ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
    ("NVIDIA L4", "L4"), ("NVIDIA L40S", "L40S"), ("Tesla T4", "T4"), ("NVIDIA H200", "H200"),
    ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090")])
def test_gpu_label_is_the_matrix_name(reported, label):
    hw = {"kind": "gpu", "name": reported, "count": 1, "gpus": []}
    assert results.where_label("gpu", matrix_mod.load(), hw) == label


def test_cpu_target_is_labelled_cpu_even_on_a_gpu_machine():
    hw = {"kind": "gpu", "name": "NVIDIA H100 80GB HBM3", "count": 1, "gpus": []}
    assert results.where_label("cpu", matrix_mod.load(), hw) == "cpu"


@pytest.mark.parametrize("exit_status,note", [(2, "interrupted"), (3, "internal error"),
                                               (1, "failures outside the conformance checks")])
def test_a_run_that_did_not_end_normally_blocks(exit_status, note):
    from tests import results_factory

    doc = results_factory.doc(exit_status=exit_status)
    assert doc["summary"]["verdict"] == "BLOCKED" and note in doc["summary"]["notes"][0]


def test_a_run_without_checks_blocks():
    from tests import results_factory

    doc = results_factory.doc(records=[])
    assert doc["summary"]["verdict"] == "BLOCKED" and doc["summary"]["notes"] == ["no conformance check ran"]


def test_gpu_hardware_from_nvidia_smi(tmp_path, monkeypatch):
    """nvidia-smi's answer as an H200 machine gave it (2026-11-27), from a stand-in on PATH."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H200, 143771 MiB, 580.159.04'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    hw = results.hardware()
    assert hw == {"kind": "gpu", "name": "NVIDIA H200", "count": 1,
                  "gpus": [{"name": "NVIDIA H200", "memory": "143771 MiB", "driver": "580.159.04"}]}
    assert results.where_label("gpu", matrix_mod.load(), hw) == "H200"
