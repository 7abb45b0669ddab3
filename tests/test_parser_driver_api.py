"""The in-process parser driver detects a vLLM without the API it calls, and the parser tests then
skip as not applicable instead of reporting the driver's TypeError as a vLLM failure."""
import json
from types import SimpleNamespace

import pytest

from lfm_conformance.parsers import parser_driver, parser_findings
from lfm_conformance.report import grid
from tests.conftest import run_pytest


def _get_parser_0_32(cls=None, tool_parser_name=None, reasoning_parser_name=None, enable_auto_tools=False,
                     model_name=None, is_harmony=False, tool_strict_level="auto", tokenizer=None):
    return None


def _get_parser_0_23(cls=None, tool_parser_name=None, reasoning_parser_name=None, enable_auto_tools=False,
                     model_name=None, is_harmony=False):
    """vLLM 0.23.0's signature: no tokenizer."""
    return None


class _Parser:
    def adjust_request(self, request): ...
    def set_prompt_token_ids(self, prompt_token_ids): ...
    def parse(self, model_output, request, enable_auto_tools=False, model_output_token_ids=()): ...
    def parse_delta(self, delta_text, delta_token_ids, request, prompt_token_ids=None, *, finished): ...


def _stand_in_vllm(get_parser=_get_parser_0_32, parser=_Parser, absent=()):
    """An import_module over stand-in vLLM modules; `absent` modules raise ImportError."""
    modules = {
        "vllm": SimpleNamespace(),
        "vllm.tokenizers": SimpleNamespace(get_tokenizer=lambda path: None),
        "vllm.parser.parser_manager": SimpleNamespace(ParserManager=SimpleNamespace(get_parser=get_parser)),
        "vllm.parser.abstract_parser": SimpleNamespace(Parser=parser),
        "vllm.entrypoints.openai.chat_completion.protocol": SimpleNamespace(ChatCompletionRequest=dict),
        "vllm.v1.engine.detokenizer": SimpleNamespace(
            IncrementalDetokenizer=SimpleNamespace(from_new_request=lambda tokenizer, request: None)),
    }

    def import_module(name):
        if name in absent or name not in modules:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return modules[name]
    return import_module


def test_complete_api_is_supported():
    assert parser_driver.missing_api(_stand_in_vllm()) == []
    assert parser_driver.unsupported_reason("0.32.0", _stand_in_vllm()) is None


def test_get_parser_without_tokenizer_is_unsupported():
    """vLLM 0.23.0: the driver's call raised TypeError (unexpected keyword argument 'tokenizer')."""
    import_module = _stand_in_vllm(get_parser=_get_parser_0_23)
    assert parser_driver.missing_api(import_module) == ["ParserManager.get_parser(tokenizer=...)"]
    assert parser_driver.unsupported_reason("0.23.0", import_module) == (
        "not applicable: the in-process parser driver needs vLLM's Parser API (vLLM >= 0.32); "
        "installed 0.23.0 lacks ParserManager.get_parser(tokenizer=...)")


def test_missing_method_and_module_are_named():
    class OldParser:
        def parse(self, model_output, request): ...  # no enable_auto_tools / model_output_token_ids

    import_module = _stand_in_vllm(parser=OldParser, absent=("vllm.v1.engine.detokenizer",))
    assert parser_driver.missing_api(import_module) == [
        "Parser.adjust_request", "Parser.set_prompt_token_ids", "Parser.parse(enable_auto_tools=...)",
        "Parser.parse(model_output_token_ids=...)", "Parser.parse_delta", "vllm.v1.engine.detokenizer"]


def test_keyword_arguments_through_kwargs_are_accepted():
    def get_parser(**kwargs):
        return None
    assert parser_driver.missing_api(_stand_in_vllm(get_parser=get_parser)) == []


def test_no_vllm_is_unsupported():
    reason = parser_driver.unsupported_reason(None, _stand_in_vllm(absent=("vllm",)))
    assert reason == ("not applicable: the in-process parser driver needs vLLM's Parser API (vLLM >= 0.32); "
                      "vLLM is not installed here")


def test_serving_parser_skips_as_not_applicable(monkeypatch):
    reason = parser_driver.unsupported_reason("0.23.0", _stand_in_vllm(get_parser=_get_parser_0_23))
    monkeypatch.setattr(parser_findings, "_driver_unsupported", lambda: reason)
    with pytest.raises(pytest.skip.Exception, match=r"installed 0\.23\.0 lacks ParserManager\.get_parser"):
        parser_findings.serving_parser(model=None, matrix=None, target="gpu-fixture")
    report = SimpleNamespace(when="call", outcome="skipped", skipped=True, failed=False,
                             longrepr=("f.py", 1, f"Skipped: {reason}"))
    assert grid.cell_for(report) == "not-applicable"


def test_parser_suites_report_not_applicable_on_an_old_parser_api(tmp_path):
    """End to end: with vLLM's ParserManager.get_parser given 0.23.0's signature (the plugin), a parser
    property and a parser finding skip as not applicable (before, they failed with TypeError)."""
    result = run_pytest("suites/test_parser_properties.py", "suites/test_parser_findings.py", "-m", "model_230m",
                        "-k", "tool_calls_parsed_equal_generated or (surrogate_pair_escape and not end_to_end)",
                        "-p", "tests.plugin_vllm_0_23_parser_api", "-rs", f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:]
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted(r["check"] for r in records) == ["test_parser_finding_surrogate_pair_escape",
                                                   "test_tool_calls_parsed_equal_generated"]
    for record in records:
        assert record["status"] == "not-applicable", record
        assert record["reason"].endswith("lacks ParserManager.get_parser(tokenizer=...)"), record
