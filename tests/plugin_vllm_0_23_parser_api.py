"""pytest plugin for tests/test_parser_driver_api.py (-p tests.plugin_vllm_0_23_parser_api): gives the
installed vLLM's ParserManager.get_parser vLLM 0.23.0's signature (no `tokenizer` argument)."""
import pytest


def _get_parser(cls, tool_parser_name=None, reasoning_parser_name=None, enable_auto_tools=False,
                model_name=None, is_harmony=False):
    raise AssertionError("the parser driver called an API it should have detected as missing")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    from vllm.parser.parser_manager import ParserManager

    ParserManager.get_parser = classmethod(_get_parser)
