"""vLLM's reasoning and tool-call parsers driven in-process exactly as its chat-completions server
drives them, without a server: the parser class the server composes from its flags
(`ParserManager.get_parser`), the request adjusted as the server adjusts it (`adjust_request`, which
decides `skip_special_tokens`), the engine's own incremental detokenizer turning each chunk of token
ids into the delta text, and `Parser.parse` (non-streaming) / `Parser.parse_delta` (streaming).

Three servings of the parser API are driven, chosen by what the installed vLLM has (`select_api`):
vLLM >= 0.32's (`Api032` here), vLLM 0.26's (`parser_api_0_26`) and vLLM 0.23's (the guide's
minimum; `parser_api_0_23`), whose servers compose, adjust and call the parsers differently. A vLLM
that has none of them is not run."""
from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

from lfm_conformance.parsers import parser_api_0_23, parser_api_0_26

PROMPT = [{"role": "user", "content": "Go."}]

# What ServingParser calls in vLLM >= 0.32: (module, attribute path, keyword arguments it passes).
# vLLM 0.23.0 and 0.26.0 have a ParserManager.get_parser without `tokenizer` and are driven by
# parser_api_0_23 / parser_api_0_26.
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
NEEDS = ("the in-process parser driver drives the parser API of vLLM >= 0.32's, 0.26's or 0.23's "
         "chat-completions server")


def _accepts(function, keyword: str) -> bool:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return True
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _resolve(import_module, module_name: str, path: str):
    """The object at `path` in the module, None where the attribute is absent; ImportError propagates."""
    obj = import_module(module_name)
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def missing_api(import_module=importlib.import_module, api=DRIVER_API) -> list[str]:
    """What of `api` (default: vLLM >= 0.32's DRIVER_API) the vLLM that `import_module` finds lacks,
    as "ParserManager.get_parser(tokenizer=...)" or "vllm.parser.parser_manager"; empty when it has all."""
    missing = []
    for module_name, path, keywords in api:
        try:
            obj = _resolve(import_module, module_name, path)
        except ImportError:
            if module_name not in missing:
                missing.append(module_name)
            continue
        if obj is None:
            missing.append(path)
            continue
        missing += [f"{path}({k}=...)" for k in keywords if not _accepts(obj, k)]
    return missing


def present_api(import_module=importlib.import_module, api=parser_api_0_23.LATER_API) -> list[str]:
    """What of `api` the vLLM has (each attribute there and accepting every keyword listed)."""
    present = []
    for module_name, path, keywords in api:
        try:
            obj = _resolve(import_module, module_name, path)
        except ImportError:
            continue
        if obj is not None and all(_accepts(obj, k) for k in keywords):
            present.append(f"{path}({', '.join(f'{k}=...' for k in keywords)})" if keywords else path)
    return present


def _servings():
    """The servings driven, newest first: (name, api, what it calls, what only later servers call)."""
    return (("0.32", Api032, DRIVER_API, ()),
            (parser_api_0_26.NAME, parser_api_0_26.Api, parser_api_0_26.DRIVER_API, parser_api_0_26.LATER_API),
            (parser_api_0_23.NAME, parser_api_0_23.Api, parser_api_0_23.DRIVER_API, parser_api_0_23.LATER_API))


def select_api(import_module=importlib.import_module):
    """The serving the installed vLLM's parser API is driven as: the newest whose calls are all
    there and none of the later servers' calls (`Api032`, `parser_api_0_26.Api`,
    `parser_api_0_23.Api`), or None."""
    for _name, api, calls, later in _servings():
        if not missing_api(import_module, calls) and not present_api(import_module, later):
            return api
    return None


def unsupported_reason(version: str | None, import_module=importlib.import_module) -> str | None:
    """Why the parser tests cannot run on this vLLM ("not run: ...": a limitation of the suite's
    driver, not a verdict on vLLM), or None when they can."""
    try:
        import_module("vllm")
    except ImportError:
        return f"not run: {NEEDS}; vLLM is not installed here"
    if select_api(import_module) is not None:
        return None
    gaps = []
    for name, _api, calls, later in _servings():
        lacks, has = missing_api(import_module, calls), present_api(import_module, later)
        gaps.append(f"as {name}'s API it " + " and ".join(filter(None, [
            f"lacks {', '.join(lacks)}" if lacks else "",
            f"has {', '.join(has)} (not called by {name}'s server)" if has else ""])))
    return f"not run: {NEEDS}; installed {version or 'vLLM (version unknown)'}: " + "; ".join(gaps)


def weights_path(model, matrix, target) -> str:
    """Where the model's server loads weights and tokenizer: the built fixture (CPU), or for real weights
    the snapshot in the hub cache the target's servers read (its `env` over this process's)."""
    config = matrix.serve_config(model, target)
    if config.target.weights == "fixture":
        from fixtures import build

        return str(build.ensure(model.fixture, matrix, log=lambda _line: None))
    from lfm_conformance.data.matrix import local_weights

    return local_weights(config)


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


class Api032:
    """One model's parsers as vLLM >= 0.32's chat-completions server composes, adjusts and calls them."""

    name = "0.32"

    def __init__(self, tokenizer, model_name: str, tool_parser: str | None, reasoning_parser: str | None):
        from vllm.parser.parser_manager import ParserManager

        self.tokenizer = tokenizer
        self.enable_auto_tools = tool_parser is not None
        self.parser_cls = ParserManager.get_parser(
            tool_parser_name=tool_parser, reasoning_parser_name=reasoning_parser,
            enable_auto_tools=self.enable_auto_tools, tokenizer=tokenizer)

    def parser_and_request(self, messages, tools):
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        request = ChatCompletionRequest(model="m", messages=messages, tools=tools)
        parser = self.parser_cls(self.tokenizer, request.tools, chat_template_kwargs={}, model_config=None)
        return parser, parser.adjust_request(request)

    def parse(self, parser, text: str, request, output_ids, prompt_ids):
        parser.set_prompt_token_ids(prompt_ids)
        return parser.parse(text, request, enable_auto_tools=self.enable_auto_tools,
                            model_output_token_ids=output_ids)


class ServingParser:
    """One model's parsers as its server runs them (tokenizer from `tokenizer_path`), driven as the
    installed vLLM's server drives them (`select_api`; `api` overrides, for tests)."""

    def __init__(self, tokenizer_path: str, serve_args, api=None):
        from vllm.tokenizers import get_tokenizer

        api = api or select_api()
        if api is None:
            raise RuntimeError(unsupported_reason(None))
        self.tokenizer = get_tokenizer(tokenizer_path)
        self.tool_parser, self.reasoning_parser = parser_names(serve_args)
        self.api = api(self.tokenizer, tokenizer_path, self.tool_parser, self.reasoning_parser)
        self.parser_cls = self.api.parser_cls
        if self.parser_cls is None:
            raise ValueError(f"serve arguments {list(serve_args)} configure no parser")
        self.eos = self.tokenizer.eos_token_id
        self._prompts: dict[str, list[int]] = {}

    # -- the request, as the server builds it --------------------------------------------------
    def _parser_and_request(self, tools):
        """A fresh parser (one per request, as the server makes) and the request as adjusted."""
        return self.api.parser_and_request(PROMPT, tools)

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
        reasoning, content, calls = self.api.parse(parser, text, request, ids, prompt_ids)
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
