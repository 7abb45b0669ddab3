"""What the endpoint did with the request. Each request variant the suites send (system prompt and
turns, tools and tool results, each tool_choice mode, images, the Thinking models' history,
max_tokens, stop; every request carries the guide's preset in extra_body, greedy) is asked once
non-streaming and once streaming (`stream_options.include_usage`), both with vLLM's
`return_token_ids`, so the server says which prompt it served and which tokens it generated:

- the prompt `/v1/chat/completions` served equals the chat template's rendering of the request, token
  for token (the Base model's `/v1/completions`: the tokenizer's encoding of the prompt);
- the streamed result equals the non-streamed one field by field, and the option's effect holds in
  both modes;
- `usage` counts the served prompt and the reply's tokens, streamed as non-streamed, within
  max_tokens, finish_reason "length" exactly when the cap cut the reply.

Guide: "all served through vLLM's OpenAI-compatible API"; "standard OpenAI tool_calls"; "Leave
max_tokens unset — capping it truncates ..."; the Base model's completions endpoint."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
import yaml

from lfm_conformance.checks import completions, streaming, tool_calls
from lfm_conformance.checks import request_fidelity as fidelity
from lfm_conformance.data import probes
from lfm_conformance.data.probes import with_image_urls
from lfm_conformance.harness.streaming import token_level_chunks
from lfm_conformance.parsers.parser_driver import weights_path
from lfm_conformance.workloads import reference

CORPUS = yaml.safe_load(Path(__file__).with_name("chat_template_corpus.yaml").read_text(encoding="utf-8"))
BOUND = 48  # past every taught reply (<= 30 tokens with its end token): those end with "stop"
UNTAUGHT = 12  # a conversation the stand-ins were not taught: a short greedy reply, cut or not
CAP = 3
NAMED = {"type": "function", "function": {"name": "get_weather"}}
SYSTEM_AND_TURNS = [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is 2 + 2?"},
                    {"role": "assistant", "content": "4."},
                    {"role": "user", "content": "What is C. elegans? Answer in one sentence."}]

# One row per request variant: the capability it needs, what is sent (a probe of fixtures/probes.yaml,
# a conversation of suites/chat_template_corpus.yaml, or messages), the options, and the effect the
# option must have in both modes (suites/test_tool_calls.py, test_vision.py, test_completions.py send them).
VARIANTS = {
    "plain": dict(needs="chat", probe="hello"),
    "system_and_turns": dict(needs="chat", messages=SYSTEM_AND_TURNS, max_tokens=UNTAUGHT),
    "thinking_history": dict(needs="reasoning", conversation="multi_turn_with_past_thinking", max_tokens=UNTAUGHT),
    "tool_result": dict(needs="tools", probe="weather_result", effect="answer"),
    "tool_choice_auto": dict(needs="tools", probe="weather", tool_choice="auto", effect="call"),
    "tool_choice_none": dict(needs="tools", probe="weather", tool_choice="none", effect="no_call"),
    "tool_choice_required": dict(needs="tools", probe="weather_required", tool_choice="required", effect="call"),
    "tool_choice_named": dict(needs="tools", probe="weather_named", tool_choice=NAMED, effect="named_call"),
    "image": dict(needs="vision", probe="image_red", effect="answer"),
    "max_tokens": dict(needs="chat", probe="hello", max_tokens=CAP, effect="cut"),
    "stop": dict(needs="chat", probe="hello", stop="nematode", effect="stopped", reference="plain"),
    "completion": dict(needs=None, prompt="thermodynamics"),
    "completion_max_tokens": dict(needs="completions", prompt="thermodynamics", max_tokens=CAP, effect="cut"),
    "completion_stop": dict(needs="completions", prompt="thermodynamics", stop=",", effect="stopped",
                            reference="completion"),
}
CASES = ["plain", "system_and_turns", "thinking_history", "tool_result", "tool_choice_auto", "tool_choice_none",
         "tool_choice_required", "tool_choice_named", "image", "max_tokens", "stop", "completion",
         "completion_max_tokens", "completion_stop"]
WEATHER = {"get_weather": probes.tool_schema("get_weather")}


@lru_cache(maxsize=1)
def _probe_file() -> dict:
    return yaml.safe_load(probes.PROBES_FILE.read_text(encoding="utf-8"))


def _conversation(spec: dict) -> tuple[list, list | None]:
    """The variant's messages as written (image parts by name) and its tools."""
    if "probe" in spec:
        probe = _probe_file()["chat"][spec["probe"]]
        tools = [_probe_file()["tools"][t] for t in probe.get("tools", [])]
        return probe["messages"], tools or None
    if "conversation" in spec:
        conversation = CORPUS["conversations"][spec["conversation"]]
        return conversation["messages"], [CORPUS["tools"][t] for t in conversation.get("tools", [])] or None
    return spec["messages"], None


def _applies(model, name: str) -> dict:
    spec = VARIANTS[name]
    needs = spec["needs"]
    if needs is not None and not model.has(needs):
        pytest.skip(f"not applicable: variant {name} needs {needs}; {model.name} has {list(model.capabilities)}")
    if needs is None and not model.has("chat") and not model.has("completions"):
        pytest.skip(f"not applicable: {model.name} serves neither endpoint")
    return spec


def _max_tokens(model, spec: dict) -> int:
    if "max_tokens" in spec:
        return spec["max_tokens"]
    if "prompt" in spec and not model.has("completions"):
        return UNTAUGHT  # a chat model's raw completion: not taught
    return BOUND


def _request(model, spec: dict) -> dict:
    """The request's kwargs: the guide's preset at temperature 0 (extras in extra_body) and the
    variant's options, asking the served token ids."""
    kwargs = dict(model=model.hf_id, seed=0, **probes.sampling(model.preset, temperature=0,
                                                               max_tokens=_max_tokens(model, spec)))
    kwargs["extra_body"] = {**kwargs.get("extra_body", {}), "return_token_ids": True}
    if "stop" in spec:
        kwargs["stop"] = [spec["stop"]]
    if "prompt" in spec:
        return {**kwargs, "prompt": probes.completion_prompt(spec["prompt"])}
    messages, tools = _conversation(spec)
    kwargs["messages"] = [with_image_urls(m) for m in messages]
    if tools:
        kwargs["tools"] = tools
    if "tool_choice" in spec:
        kwargs["tool_choice"] = spec["tool_choice"]
    return kwargs


class Mode(NamedTuple):
    """One mode of an exchange: its response shaped as non-streaming, and readers of what the server
    returned (called inside the check, so that a missing field fails it naming the mode)."""
    name: str
    response: dict
    prompt: Callable[[], list[int]]
    reply: Callable[[], list[int]]
    usage: Callable[[], dict]
    finish: tuple  # (finish_reason, stop_reason)


class Exchange:
    """One variant asked both ways: the non-streaming response and the stream's chunks."""

    def __init__(self, spec: dict, kwargs: dict, whole: dict, chunks: list[dict]):
        self.spec, self.kwargs, self.whole, self.chunks = spec, kwargs, whole, chunks
        self.chat = "messages" in kwargs
        self.max_tokens = kwargs.get("max_tokens")

    def modes(self) -> tuple[Mode, Mode]:
        whole, chunks = self.whole, self.chunks
        streamed = tool_calls.reassemble(chunks) if self.chat else _completion_reassembled(chunks)
        return (Mode("non-streaming", whole, lambda: fidelity.served_prompt_ids(whole),
                     lambda: fidelity.reply_ids(whole), lambda: fidelity.usage_of(whole), fidelity.finish_of(whole)),
                Mode("streaming", streamed, lambda: fidelity.streamed_prompt_ids(chunks),
                     lambda: fidelity.streamed_reply_ids(chunks), lambda: fidelity.streamed_usage(chunks),
                     fidelity.streamed_finish(chunks)))


def _completion_reassembled(chunks: list[dict]) -> dict:
    text = "".join(ch.get("text") or "" for c in chunks for ch in c.get("choices") or [])
    finish, stop = fidelity.streamed_finish(chunks)
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish, "stop_reason": stop}]}


_EXCHANGES: dict[tuple, Exchange] = {}


def _exchange(server, model, name: str) -> Exchange:
    """The variant asked non-streaming and streaming, once per server and model (the three checks
    below read the same two responses)."""
    key = (server.url("/"), model.hf_id, name)
    if key not in _EXCHANGES:
        spec = _applies(model, name)
        kwargs = _request(model, spec)
        client = server.client(timeout=300)
        create = client.chat.completions.create if "messages" in kwargs else client.completions.create
        whole = create(**kwargs).model_dump(exclude_unset=True)
        if "messages" in kwargs:
            chunks = token_level_chunks(client, stream_options={"include_usage": True}, **kwargs)
        else:
            chunks = [c.model_dump(exclude_unset=True)
                      for c in create(stream=True, stream_options={"include_usage": True}, **kwargs)]
        _EXCHANGES[key] = Exchange(spec, kwargs, whole, chunks)
    return _EXCHANGES[key]


# -- the reference renderings ----------------------------------------------------------------------
def _rendering(path: str, spec: dict) -> list[int]:
    """The published template's rendering of the request (transformers, as suites/test_chat_template.py
    renders it for /tokenize), or the tokenizer's encoding of a raw prompt."""
    if "prompt" in spec:
        return list(reference.tokenizer(path)(probes.completion_prompt(spec["prompt"]))["input_ids"])
    messages, tools = _conversation(spec)
    return reference.template_rendering(path, messages, tools)


# -- the checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", CASES)
def test_endpoint_serves_the_template_rendering(model, matrix, target, server, variant):
    """The prompt the completions endpoint itself served (its returned prompt_token_ids, streamed and
    not) is the template's rendering of the request (Base: tokenizer(prompt))."""
    exchange = _exchange(server, model, variant)
    path = weights_path(model, matrix, target)
    source = "the chat template's rendering" if exchange.chat else "the tokenizer's encoding of the prompt"
    rendered = _rendering(path, exchange.spec)
    for mode in exchange.modes():
        fidelity.in_mode(mode.name, lambda: fidelity.prompt_equals(mode.prompt(), rendered, source,
                                                                   reference.tokenizer(path).decode))


def _effect(exchange: Exchange, response: dict, reply: list[int], finish: str | None, stop_reason, references) -> None:
    effect = exchange.spec.get("effect")
    if effect == "answer":
        tool_calls.answer_in_content(response)
    elif effect == "call":
        tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"])
    elif effect == "named_call":  # the OpenAI API itself ends a forced named call with finish_reason "stop"
        tool_calls.tool_calls_parsed(response, WEATHER, names=["get_weather"], finish_reasons=("stop", "tool_calls"))
    elif effect == "no_call":
        tool_calls.no_tool_calls(response)
    elif effect == "cut":
        fidelity.cut_at_cap(finish, reply, exchange.max_tokens)
    elif effect == "stopped":
        fidelity.stopped_at(_text(response), _text(references()), exchange.spec["stop"], finish, stop_reason)


def _text(response: dict) -> str:
    """The reply's text: a chat reply's reasoning and content as the model wrote them one after the
    other (a stop string cuts the whole output), a completion's text."""
    choice = response["choices"][0]
    if "message" not in choice:
        return choice.get("text") or ""
    message = choice["message"]
    return (message.get("reasoning") or message.get("reasoning_content") or "") + (message.get("content") or "")


@pytest.mark.parametrize("variant", CASES)
def test_option_holds_streamed_and_not(model, server, variant):
    """The option's effect in each mode, then the streamed result equal to the non-streamed one field
    by field (text fields, tool calls, finish_reason, stop_reason, prompt and reply token ids)."""
    exchange = _exchange(server, model, variant)
    compared_with = VARIANTS[variant].get("reference")

    def references():
        return _exchange(server, model, compared_with).whole

    for mode in exchange.modes():
        fidelity.in_mode(mode.name, lambda: _effect(exchange, mode.response, mode.reply(), *mode.finish, references))
    if exchange.chat:
        streaming.stream_equals_response(exchange.chunks, exchange.whole)
    else:
        completions.stream_matches(exchange.chunks, exchange.whole)
    fidelity.same_tokens(exchange.chunks, exchange.whole)


@pytest.mark.parametrize("variant", CASES)
def test_usage_counts_served_tokens(model, matrix, target, server, variant):
    """usage: prompt_tokens = the served prompt's length, completion_tokens = the reply's tokens, total
    their sum, within max_tokens, "length" exactly when the cap cut the reply; streamed = non-streamed."""
    exchange = _exchange(server, model, variant)
    end_ids = frozenset(reference.tokenizer(weights_path(model, matrix, target)).all_special_ids)
    usages = []
    for mode in exchange.modes():
        usages.append(fidelity.in_mode(mode.name, mode.usage))
        fidelity.in_mode(mode.name, lambda: fidelity.usage_true(usages[-1], mode.prompt(), mode.reply(),
                                                                exchange.max_tokens, *mode.finish, end_ids))
    fidelity.usage_equal(usages[1], usages[0])
