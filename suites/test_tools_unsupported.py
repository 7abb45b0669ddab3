"""Tools sent to a model the guide lists without tool support. Guide, "Dense Chat Models": LFM2.5 1.2B JP
"| – |" in the Tools column; "Server Flags Reference": `--tool-call-parser lfm2` is for "tool-capable
models", so the JP model (and the VL models, whose table has no Tools column) are served without the
tool flags. What that implies for a client sending `tools` as the guide's SDK example does: no OpenAI
tool_calls come back. A client refusal (HTTP 4xx with an OpenAI error object) or a plain answer
without tool_calls both keep that; tool_calls, a 5xx or a dead server do not. Which of the two vLLM
does is recorded in the test's figures. (The Base model has no chat template: every chat request to it
is refused, tools or not; suites/test_completions.py checks that.) Runs on the models' own servers.
"""
import httpx
import openai
import pytest

from lfm_conformance.checks import excerpt, tool_calls
from lfm_conformance.checks.http import error_message
from lfm_conformance.data import probes

pytestmark = pytest.mark.requires("chat")
BOUND = 256  # bounds a derailed reply; taught replies end far earlier


def _headers(server) -> dict:
    return {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}


def test_tools_request_gets_no_tool_calls(model, request, record_property):
    """The guide's SDK call (tools, no tool_choice, the model's preset) to a model without tool support."""
    if model.has("tools"):
        pytest.skip(f"not applicable: {model.name} is tool-capable in the guide (suites/test_tool_calls.py)")
    server = request.getfixturevalue("server")
    kwargs = dict(model=model.hf_id, **probes.chat("weather"), **probes.sampling(model.preset, max_tokens=BOUND))
    try:
        raw = server.client().chat.completions.with_raw_response.create(**kwargs)
        status, body = raw.status_code, raw.http_response.json()
    except openai.APIStatusError as exc:
        status, body = exc.status_code, _body(exc.response)
    except openai.APIConnectionError as exc:  # the server hung up: /health below says whether it survived
        status, body = 0, f"no HTTP answer: {exc}"
    health = httpx.get(server.url("/health"), headers=_headers(server), timeout=30).status_code
    choice = (body.get("choices") or [{}])[0] if isinstance(body, dict) else {}
    record_property("figures", {
        "kind": "tools_unsupported", "model": model.name, "status": status, "healthy": health == 200,
        "server_args": list(server.config.args), "finish_reason": choice.get("finish_reason"),
        "tool_calls": len((choice.get("message") or {}).get("tool_calls") or []),
        "content": excerpt((choice.get("message") or {}).get("content") or "", 200),
        "error": excerpt(error_message(body), 300) if status != 200 else None})
    tool_calls.tools_not_served(status, body, health)


def _body(response):
    try:
        return response.json()
    except ValueError:
        return response.text
