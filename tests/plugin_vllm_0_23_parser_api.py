"""pytest plugin for tests/test_parser_driver_api.py (-p tests.plugin_vllm_0_23_parser_api): gives the
installed vLLM (0.32 in CI) vLLM 0.23.0's parser API shape, so that the parser driver selects its
0.23 adapter (lfm_conformance/parsers/parser_api_0_23.py) and drives the installed parsers with it:

- ParserManager.get_parser takes 0.23.0's arguments (no `tokenizer`, `is_harmony`, `tool_strict_level`);
- Parser has no set_prompt_token_ids, and Parser.parse / DelegatingParser.parse no
  `model_output_token_ids` (0.23.0's signatures);
- 0.23.0's render layer (vllm.entrypoints.serve.render.serving.OpenAIServingRender.preprocess_chat,
  where 0.23's server adjusts the request), a stand-in where the installed vLLM has none.

Were the driver's >= 0.32 path selected here instead, each of its calls would fail (TypeError or
AttributeError); were no path selected, the tests would skip as not run."""
import importlib
import sys
import types

import pytest

RENDER = "vllm.entrypoints.serve.render.serving"


def _render_stand_in() -> types.ModuleType:
    class OpenAIServingRender:
        async def preprocess_chat(self, request, messages, default_template, default_template_content_format,
                                  default_template_kwargs, tool_dicts=None, tool_parser=None, reasoning_parser=None,
                                  *, skip_mm_cache=False):
            raise AssertionError("stand-in for vLLM 0.23.0's render layer: the parser driver only inspects it")

    module = types.ModuleType(RENDER)
    module.OpenAIServingRender = OpenAIServingRender
    return module


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    from vllm.parser import abstract_parser
    from vllm.parser.parser_manager import ParserManager

    compose = ParserManager.get_parser.__func__

    def get_parser(cls, tool_parser_name=None, reasoning_parser_name=None, enable_auto_tools=False,
                   model_name=None):
        return compose(cls, tool_parser_name=tool_parser_name, reasoning_parser_name=reasoning_parser_name,
                       enable_auto_tools=enable_auto_tools, model_name=model_name)

    ParserManager.get_parser = classmethod(get_parser)

    for cls in (abstract_parser.Parser, abstract_parser.DelegatingParser):
        if "set_prompt_token_ids" in vars(cls):
            delattr(cls, "set_prompt_token_ids")
        if "parse" in vars(cls):
            def parse(self, model_output, request, enable_auto_tools=False, _parse=vars(cls)["parse"]):
                return _parse(self, model_output, request, enable_auto_tools=enable_auto_tools)
            cls.parse = parse

    try:
        importlib.import_module(RENDER)
    except ImportError:
        sys.modules[RENDER] = _render_stand_in()
