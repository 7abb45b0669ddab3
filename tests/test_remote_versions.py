"""Remote mode: the vLLM under test is the endpoint's. results.json and the sign-off name it (and the local
one beside it); the in-process parser checks, which run the local vLLM, run only where the two are equal."""
from types import SimpleNamespace

import jsonschema
import pytest

from lfm_conformance.parsers import parser_findings
from lfm_conformance.report import results, signoff
from tests import results_factory as rf

MATRIX = SimpleNamespace(serve_config=lambda model, target: SimpleNamespace(args=("--tool-call-parser", "lfm2")))


@pytest.fixture
def local_0_32(monkeypatch):
    monkeypatch.setattr(parser_findings, "_driver_unsupported", lambda: None)
    monkeypatch.setattr(parser_findings.deviations, "installed_vllm_version", lambda: "0.32.0")
    monkeypatch.setattr(parser_findings, "weights_path", lambda model, matrix, target: "/fixture")
    monkeypatch.setattr(parser_findings, "_serving_parser", lambda path, args: ("parser", path, args))


def test_in_process_parser_check_is_not_run_against_another_vllm(local_0_32):
    with pytest.raises(pytest.skip.Exception, match=r"^not run: in-process parser check runs the local vLLM 0\.32\.0, "
                                                    r"the endpoint runs vLLM 0\.33\.0$"):
        parser_findings.serving_parser(None, MATRIX, "cpu", "0.33.0")
    with pytest.raises(pytest.skip.Exception, match=r"the endpoint runs vLLM \(version unknown\)$"):
        parser_findings.serving_parser(None, MATRIX, "cpu", None)


def test_in_process_parser_check_runs_where_the_versions_are_equal(local_0_32):
    assert parser_findings.serving_parser(None, MATRIX, "cpu", "0.32.0") == ("parser", "/fixture",
                                                                               ("--tool-call-parser", "lfm2"))


def test_results_record_the_endpoints_vllm_and_the_local_one(monkeypatch):
    monkeypatch.setattr(results.deviations, "installed_vllm_version", lambda: "0.32.0")
    remote = SimpleNamespace(vllm_version="0.33.0", root="http://10.0.0.5:8000")
    assert results.ResultsCollector(None, SimpleNamespace(remote=remote))._endpoint() == {
        "vllm": "0.33.0", "local_vllm": "0.32.0", "endpoint": "http://10.0.0.5:8000"}
    assert results.ResultsCollector(None, SimpleNamespace(remote=None))._endpoint() == {}


def test_signoff_shows_the_endpoints_vllm():
    doc = rf.doc()
    doc["runs"][0]["environment"].update(vllm="0.33.0", local_vllm="0.32.0", endpoint="http://10.0.0.5:8000")
    jsonschema.validate(doc, results.schema())
    md = signoff.render_markdown(doc)
    assert md.startswith("# LFM2.5 on vLLM 0.33.0: conformance sign-off")
    assert "| vLLM | 0.33.0 (the endpoint http://10.0.0.5:8000, remote mode) |" in md
    assert "| local vLLM | 0.32.0 (runs the in-process parser checks only where it equals the endpoint's) |" in md
