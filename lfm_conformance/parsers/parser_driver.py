"""vLLM's reasoning and tool-call parsers driven in-process exactly as its chat-completions server
drives them, without a server: the parser class the server composes from its flags
(`ParserManager.get_parser`), the request adjusted by it (`adjust_request`, which decides
`skip_special_tokens`), the engine's own incremental detokenizer turning each chunk of token ids
into the delta text, and `Parser.parse` (non-streaming) / `Parser.parse_delta` (streaming)."""
from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

PROMPT = [{"role": "user", "content": "Go."}]

# What ServingParser calls in vLLM: (module, attribute path, keyword arguments it passes). vLLM 0.32
# has all of it; older releases (0.23.0) have a ParserManager.get_parser without `tokenizer`.
DRIVER_API = (
    ("vllm.tokenizers", "get_tokenizer", ()),
    ("vllm.parser.parser_manager", "ParserManager.get_parser",
     ("tool_parser_name", "reasoning_parser_name", "enable_auto_tools", "tokenizer")),
    ("vllm.parser.abstract_parser", "Parser.adjust_request", ()),
    ("vllm.parser.abstract_parser", "Parser.set_prompt_token_ids", ()),
    ("vllm.parser.abstract_parser", "Parser.parse", ("enable_auto_tools", "model_output_token_ids")),
    ("vllm.parser.abstract_parser", "Parser.parse_delta", ("prompt_token_ids", "finished")),
    ("vllm.entrypoints.openai.chat_completion.protocol", "ChatCompletionRequest", ()),
    ("vllm.v1.engine.detokenizer", "IncrementalDetokenizer.from_new_request", ()),
)
NEEDS = "the in-process parser driver needs vLLM's Parser API (vLLM >= 0.32)"


def _accepts(function, keyword: str) -> bool:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return True
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def missing_api(import_module=importlib.import_module) -> list[str]:
    """What of DRIVER_API the vLLM that `import_module` finds lacks, as "ParserManager.get_parser(tokenizer=...)"
    or "vllm.parser.parser_manager"; empty when the driver can run."""
    missing = []
    for module_name, path, keywords in DRIVER_API:
        try:
            obj = import_module(module_name)
        except ImportError:
            if module_name not in missing:
                missing.append(module_name)
            continue
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            missing.append(path)
            continue
        missing += [f"{path}({k}=...)" for k in keywords if not _accepts(obj, k)]
    return missing


def unsupported_reason(version: str | None, import_module=importlib.import_module) -> str | None:
    """Why the parser tests cannot run on this vLLM ("not applicable: ..."), or None when they can."""
    try:
        import_module("vllm")
    except ImportError:
        return f"not applicable: {NEEDS}; vLLM is not installed here"
    missing = missing_api(import_module)
    if not missing:
        return None
    return f"not applicable: {NEEDS}; installed {version or 'vLLM (version unknown)'} lacks {', '.join(missing)}"


def weights_path(model, matrix, target) -> str:
    """Where the model's server loads weights and tokenizer: the built fixture (CPU) or the HF id."""
    config = matrix.serve_config(model, target)
    if config.target.weights == "fixture":
        from fixtures import build

        return str(build.ensure(model.fixture, matrix, log=lambda _line: None))
    return config.source


def parser_names(serve_args) -> tuple[str | None, str | None]:
    """(tool parser, reasoning parser) a server started with these arguments uses."""
    args = list(serve_args)

    def value(flag):
        return args[args.index(flag) + 1] if flag in args else None

    tool = value("--tool-call-parser") if "--enable-auto-tool-choice" in args else None
    return tool, value("--reasoning-parser")


@dataclass
class StreamedCall:
    index: int
    ids: list = field(default_factory=list)  # every non-empty id sent for this index
    names: list = field(default_factory=list)  # every non-empty name fragment
    arguments: str = ""


@dataclass
class ParsedOutput:
    """What a client receives: non-streaming message fields, or streamed deltas concatenated."""
    reasoning: str | None
    content: str | None
    calls: list[dict]  # [{"name", "arguments" (JSON text)}]; streamed: see `streamed`
    streamed: list[StreamedCall] | None = None
    deltas: list[dict] | None = None  # the streamed delta messages, for evidence
    unsendable: list[str] = field(default_factory=list)  # deltas the server cannot serialize to JSON

    def calls_as_json(self) -> list[dict]:
        return [{"name": c["name"], "arguments": c["arguments"]} for c in self.calls]


class ServingParser:
    """One model's parsers as its server runs them (tokenizer from `tokenizer_path`)."""

    def __init__(self, tokenizer_path: str, serve_args):
        from vllm.parser.parser_manager import ParserManager
        from vllm.tokenizers import get_tokenizer

        self.tokenizer = get_tokenizer(tokenizer_path)
        self.tool_parser, self.reasoning_parser = parser_names(serve_args)
        self.parser_cls = ParserManager.get_parser(
            tool_parser_name=self.tool_parser, reasoning_parser_name=self.reasoning_parser,
            enable_auto_tools=self.tool_parser is not None, tokenizer=self.tokenizer)
        if self.parser_cls is None:
            raise ValueError(f"serve arguments {list(serve_args)} configure no parser")
        self.eos = self.tokenizer.eos_token_id
        self._prompts: dict[str, list[int]] = {}

    # -- the request, as the server builds it --------------------------------------------------
    def _request(self, tools):
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        return ChatCompletionRequest(model="m", messages=PROMPT, tools=tools)

    def _parser_and_request(self, tools):
        request = self._request(tools)
        parser = self.parser_cls(self.tokenizer, request.tools, chat_template_kwargs={}, model_config=None)
        return parser, parser.adjust_request(request)

    def prompt_ids(self, tools) -> list[int]:
        """The rendered prompt (the reasoning parser checks whether it already closed reasoning)."""
        key = json.dumps(tools)
        if key not in self._prompts:
            self._prompts[key] = list(self.tokenizer.apply_chat_template(
                PROMPT, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False))
        return self._prompts[key]

    # -- model output -> token ids -> text ----------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """The token ids of a model output ending the turn with eos."""
        return list(self.tokenizer.encode(text, add_special_tokens=False)) + [self.eos]

    def encode_pieces(self, pieces: list[str]) -> tuple[list[int], list[int]]:
        """Token ids of a recorded output given as delta texts, and the chunk sizes."""
        chunks = [list(self.tokenizer.encode(p, add_special_tokens=False)) for p in pieces]
        chunks[-1].append(self.eos)
        return [i for c in chunks for i in c], [len(c) for c in chunks]

    def _detokenizer(self, request, prompt_ids):
        from vllm.sampling_params import SamplingParams
        from vllm.v1.engine.detokenizer import IncrementalDetokenizer

        params = SamplingParams(skip_special_tokens=request.skip_special_tokens,
                                spaces_between_special_tokens=request.spaces_between_special_tokens)
        fake_request = SimpleNamespace(sampling_params=params, request_id="parser-property",
                                       prompt_token_ids=prompt_ids)
        return IncrementalDetokenizer.from_new_request(self.tokenizer, fake_request)

    def delta_texts(self, ids: list[int], sizes: list[int], tools=None) -> list[str]:
        """The delta text the engine reports for each chunk (the last one ends with eos)."""
        _, request = self._parser_and_request(tools)
        detok = self._detokenizer(request, self.prompt_ids(tools))
        out, start = [], 0
        for n, size in enumerate(sizes):
            last = n == len(sizes) - 1
            detok.update(ids[start:start + size], stop_terminated=last)
            out.append(detok.get_next_output_text(last, delta=True))
            start += size
        return out

    # -- the two response paths -------------------------------------------------------------
    def non_streaming(self, ids: list[int], tools=None) -> ParsedOutput:
        parser, request = self._parser_and_request(tools)
        prompt_ids = self.prompt_ids(tools)
        detok = self._detokenizer(request, prompt_ids)
        detok.update(ids, stop_terminated=True)
        text = detok.get_next_output_text(True, delta=False)
        parser.set_prompt_token_ids(prompt_ids)
        reasoning, content, calls = parser.parse(text, request, enable_auto_tools=self.tool_parser is not None,
                                                 model_output_token_ids=ids)
        return ParsedOutput(reasoning, content,
                            [{"name": c.name, "arguments": c.arguments} for c in calls or []])

    def streaming(self, ids: list[int], sizes: list[int], tools=None) -> ParsedOutput:
        """Feed the chunks one engine step each, as the server does, and concatenate the deltas."""
        parser, request = self._parser_and_request(tools)
        prompt_ids = self.prompt_ids(tools)
        detok = self._detokenizer(request, prompt_ids)
        reasoning, content, deltas, unsendable = None, None, [], []
        streamed: dict[int, StreamedCall] = {}
        start = 0
        for n, size in enumerate(sizes):
            last = n == len(sizes) - 1
            chunk = ids[start:start + size]
            start += size
            detok.update(chunk, stop_terminated=last)
            delta_text = detok.get_next_output_text(last, delta=True)
            delta = parser.parse_delta(delta_text, chunk, request, prompt_token_ids=prompt_ids, finished=last)
            if delta is None:
                continue
            sent = delta.model_dump(exclude_none=True)
            try:
                delta.model_dump_json(exclude_none=True)  # what the server does to every chunk
            except ValueError as exc:
                unsendable.append(f"{sent!r}: {exc}")
            deltas.append({"delta_text": delta_text, **sent})
            if delta.reasoning:
                reasoning = (reasoning or "") + delta.reasoning
            if delta.content:
                content = (content or "") + delta.content
            for tc in delta.tool_calls or []:
                call = streamed.setdefault(tc.index, StreamedCall(tc.index))
                if tc.id:
                    call.ids.append(tc.id)
                if tc.function is not None:
                    if tc.function.name:
                        call.names.append(tc.function.name)
                    call.arguments += tc.function.arguments or ""
        calls = [streamed[i] for i in sorted(streamed)]
        return ParsedOutput(reasoning, content, [{"name": "".join(c.names), "arguments": c.arguments} for c in calls],
                            streamed=calls, deltas=deltas, unsendable=unsendable)
