"""Tool calls: Pythonic calls come back as OpenAI tool_calls (the lfm2 tool parser).
Guide: "LFM2.5 emits Pythonic tool calls wrapped in <|tool_call_start|>…<|tool_call_end|>. The
built-in lfm2 tool parser converts these into standard OpenAI tool_calls"."""
from __future__ import annotations

import ast
import json
import re

import jsonschema

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.http import refused_as_client_error

MARKERS = ("<|tool_call_start|>", "<|tool_call_end|>")
PYTHONIC_CALL = re.compile(r"\[\s*[A-Za-z_][\w.]*\(.*?\)\s*(,\s*[A-Za-z_][\w.]*\(.*?\)\s*)*\]", re.S)


def expected_calls(pythonic: str) -> list[dict]:
    """[{name, arguments}] of a Pythonic call list as the model writes it (taught reply text)."""
    body = pythonic
    for marker in MARKERS:
        body = body.replace(marker, "")
    body = body[body.index("["): body.rindex("]") + 1]
    tree = ast.parse(body, mode="eval").body
    calls = []
    for call in tree.elts:
        name = ast.unparse(call.func)
        calls.append({"name": name, "arguments": {kw.arg: _literal(kw.value) for kw in call.keywords}})
    return calls


def _literal(node):
    if isinstance(node, ast.Name) and node.id in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[node.id]
    return ast.literal_eval(node)


def message_of(response: dict) -> tuple[dict, str | None]:
    choices = response.get("choices") or []
    if not choices:
        raise CheckFailed("the response has no choices", "one choice", "none", excerpt(response))
    return choices[0].get("message") or {}, choices[0].get("finish_reason")


def parsed_calls(response: dict) -> list[dict]:
    """The response's tool calls as [{name, arguments (JSON text)}] (non-streaming or reassembled)."""
    message, _ = message_of(response)
    return [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message.get("tool_calls") or []]


def no_call_text_in_content(content: str | None) -> None:
    text = content or ""
    leaked = [m for m in MARKERS if m in text]
    if leaked or PYTHONIC_CALL.search(text):
        raise CheckFailed("tool-call text leaked into content",
                          "content free of <|tool_call_start|>/<|tool_call_end|> and Pythonic call text",
                          f"content {excerpt(text)!r}")


def tool_calls_parsed(response: dict, schemas: dict[str, dict], expected: list[dict] | None = None,
                      names: list[str] | None = None, finish_reasons=("tool_calls",)) -> list[dict]:
    """tool_calls: type function, unique non-empty ids, expected names, JSON arguments valid against the
    tool's schema (and equal to `expected` where given), finish_reason tool_calls, nothing leaked."""
    message, finish = message_of(response)
    calls = message.get("tool_calls") or []
    if not calls:
        raise CheckFailed("the tool call was not parsed into tool_calls",
                          "message.tool_calls with the call", f"tool_calls {calls!r}; content "
                          f"{excerpt(message.get('content'))!r}; reasoning {excerpt(message.get('reasoning'))!r}",
                          excerpt(response))
    ids = [c.get("id") for c in calls]
    if not all(ids) or len(set(ids)) != len(ids):
        raise CheckFailed("tool call ids are missing or not unique", "a unique non-empty id per call", f"ids {ids!r}")
    parsed = []
    for call in calls:
        if call.get("type") != "function":
            raise CheckFailed("tool call type is not 'function'", "type 'function'", f"type {call.get('type')!r}")
        fn = call.get("function") or {}
        name, raw = fn.get("name"), fn.get("arguments")
        if name not in schemas:
            raise CheckFailed("tool call names an unknown function", f"one of {sorted(schemas)}", f"name {name!r}")
        try:
            args = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise CheckFailed(f"arguments of {name} are not valid JSON", "a JSON object",
                              f"{excerpt(raw)!r} ({exc})") from None
        try:
            jsonschema.validate(args, schemas[name])
        except jsonschema.ValidationError as exc:
            raise CheckFailed(f"arguments of {name} do not match the tool's JSON Schema",
                              f"arguments valid against {excerpt(schemas[name])}",
                              f"{excerpt(args)}: {exc.message} at {list(exc.absolute_path)}") from None
        parsed.append({"name": name, "arguments": args})
    if names is not None and [c["name"] for c in parsed] != names:
        raise CheckFailed("wrong functions called", f"calls to {names}", f"calls to {[c['name'] for c in parsed]}")
    if expected is not None and parsed != expected:
        raise CheckFailed("parsed tool calls differ from what the model emitted", excerpt(expected), excerpt(parsed))
    if finish not in finish_reasons:
        raise CheckFailed("wrong finish_reason for a tool call", f"finish_reason in {list(finish_reasons)}",
                          f"finish_reason {finish!r}")
    no_call_text_in_content(message.get("content"))
    return parsed


def no_tool_calls(response: dict) -> None:
    message, finish = message_of(response)
    if message.get("tool_calls"):
        raise CheckFailed("tool_calls returned where none may be", "no tool_calls",
                          excerpt(message.get("tool_calls")))
    if finish == "tool_calls":
        raise CheckFailed("finish_reason 'tool_calls' without tool calls allowed", "finish_reason 'stop' or 'length'",
                          f"finish_reason {finish!r}")


def answer_in_content(response: dict) -> None:
    """A final (non-tool) answer: text in content, no tool_calls, nothing leaked."""
    no_tool_calls(response)
    message, _ = message_of(response)
    if not (message.get("content") or "").strip():
        raise CheckFailed("the final answer is not in content", "non-empty content",
                          f"content {message.get('content')!r}", excerpt(message))
    no_call_text_in_content(message.get("content"))


def reassemble(chunks: list[dict]) -> dict:
    """A non-streaming-shaped response from streamed chunks: content, reasoning and tool-call
    argument deltas concatenated per index, the last finish_reason."""
    message: dict = {"role": "assistant", "content": None, "tool_calls": []}
    calls: dict[int, dict] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for field in ("content", "reasoning", "reasoning_content"):
                if delta.get(field):
                    message[field] = (message.get(field) or "") + delta[field]
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc.get("index", 0), {"id": None, "type": None,
                                                             "function": {"name": "", "arguments": ""}})
                call["id"] = tc.get("id") or call["id"]
                call["type"] = tc.get("type") or call["type"]
                fn = tc.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def tools_not_served(status: int, body, health_status: int) -> str:
    """A tools request to a model the guide lists without tool support (served without the tool flags):
    no OpenAI tool_calls come back. Either a client refusal (HTTP 4xx with an OpenAI error object) or an
    answer (HTTP 200) without tool_calls keeps that promise; tool_calls, a 5xx or a server that stops
    answering /health do not. Returns what the server did, in words, for the test's figures."""
    expected = ("no tool_calls: HTTP 4xx with an OpenAI error object, or HTTP 200 without tool_calls; "
                "the server healthy after it")
    if health_status != 200:
        raise CheckFailed("the server is unhealthy after a tools request to a model without tool support", expected,
                          f"GET /health {health_status} (request answered HTTP {status})", excerpt(body))
    if status == 200:
        if not isinstance(body, dict):
            raise CheckFailed("HTTP 200 without a chat completion body", expected, f"HTTP 200: {excerpt(body)}")
        message, finish = message_of(body)
        if message.get("tool_calls") or finish == "tool_calls":
            raise CheckFailed("tool_calls returned by a model the guide lists without tool support", expected,
                              f"HTTP 200, finish_reason {finish!r}, tool_calls {excerpt(message.get('tool_calls'))}",
                              excerpt(body))
        return f"answered without tool_calls (HTTP 200, finish_reason {finish!r})"
    message = refused_as_client_error(status, body, "a tools request to a model without tool support", expected)
    return f"refused (HTTP {status}: {excerpt(message, 200)})"
