"""Context caps. Guide: "Cap the context to fit a smaller GPU (models support up to 32K; 128K on
8B-A1B)"; Server Flags Reference: `--max-model-len N` "Cap context (up to 32K; 128K on 8B-A1B)".

Prompts are built by token count: a list of token ids (one plain word, from POST /tokenize) sent as
the `prompt` of /v1/completions, so no chat template changes the count. vLLM 0.32's rule (see
lfm_conformance/checks/context.py): prompt tokens <= max_model_len, max_tokens clamped to what is
left, and a request with no output token left is rejected. At the documented context only cheap
rejections run (refused before prefill); the accepted long prompts run under a 2048-token cap.
(/v1/models at the documented context is checked by suites/test_loading.py.)
"""
import httpx
import pytest

from lfm_conformance.checks import context
from lfm_conformance.serving.server import ServerError

CAP = 2048
CAP_ARGS = ("--max-model-len", str(CAP))
# `server` is then the capped server: one per architecture on CPU (no parser flag changes the cap)
capped = pytest.mark.serve_config(extra_args=CAP_ARGS, per_architecture=True)
CLAMP_ROOM = 10  # output tokens left under the cap in the clamping test
TIMEOUT_S = 300


def _headers(server) -> dict:
    return {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}


def _complete(server, model, token_ids: list[int], **params) -> tuple[int, dict]:
    """Raw /v1/completions with a token-id prompt: the status and JSON body as the server sent them."""
    body = {"model": model.hf_id, "prompt": token_ids, "temperature": 0, **params}
    resp = httpx.post(server.url("/v1/completions"), json=body, headers=_headers(server), timeout=TIMEOUT_S)
    return resp.status_code, resp.json()


def _health(server) -> int:
    return httpx.get(server.url("/health"), headers=_headers(server), timeout=30).status_code


def _word_id(server, model) -> int:
    """A plain token's id: the first token of " hello", special tokens left out."""
    resp = httpx.post(server.url("/tokenize"), headers=_headers(server), timeout=30,
                      json={"model": model.hf_id, "prompt": " hello", "add_special_tokens": False})
    resp.raise_for_status()
    return resp.json()["tokens"][0]


# -- at the documented context (the model's normal server) -------------------------------------
def test_prompt_over_documented_context_rejected(model, server):
    n = model.context + 1
    status, body = _complete(server, model, [_word_id(server, model)] * n, max_tokens=1)
    context.healthy(_health(server), f"a {n}-token prompt")
    context.prompt_over_context_rejected(status, body, model.context, n)


def test_prompt_filling_documented_context_rejected(model, server):
    """model.context prompt tokens + max_tokens 1 is one token over the documented context."""
    status, body = _complete(server, model, [_word_id(server, model)] * model.context, max_tokens=1)
    context.healthy(_health(server), f"a {model.context}-token prompt")
    context.no_room_for_output_rejected(status, body, model.context)


# -- above the documented context ("up to 32K; 128K on 8B-A1B") ---------------------------------
@pytest.mark.serve_config(extra_args=lambda model: ("--max-model-len", str(model.context + 1)), per_architecture=True)
def test_max_model_len_above_documented_context_refused(model, serve_config, server_pool, record_property):
    """One token more than the documented context: the server must not start, or serve at most the
    documented context. (On CPU the fixture is built at the documented context: real weights only.)"""
    asked = model.context + 1
    try:
        server = server_pool.get(serve_config)
    except ServerError as exc:  # did not start: refused, if its log says so in numbers
        if not context.refusal_names_cap(str(exc), asked, model.context):
            raise RuntimeError(f"the server did not start, and not over --max-model-len {asked}: "
                               f"nothing checked\n{exc}") from None  # ERROR: the suite could not check
        record_property("figures", {"kind": "max_model_len_above_documented", "asked": asked,
                                    "outcome": "refused at start-up"})
        context.cap_above_documented_refused(model.context, asked, started=False, served_max=None)
        return
    served = next((m.get("max_model_len") for m in server.get_json("/v1/models")["data"] if m["id"] == model.hf_id), None)
    context.cap_above_documented_refused(model.context, asked, started=True, served_max=served,
                                         evidence=f"/v1/models for {model.hf_id}: max_model_len {served}")


# -- under a lowered cap (--max-model-len 2048) -------------------------------------------------
@capped
def test_models_endpoint_reports_lowered_cap(model, server):
    context.cap_reported(server.get_json("/v1/models"), model.hf_id, CAP)


@capped
def test_prompt_fitting_lowered_cap_exactly_accepted(model, server):
    """CAP - 1 prompt tokens + max_tokens 1 = CAP: the largest request that fits."""
    n = CAP - 1
    status, body = _complete(server, model, [_word_id(server, model)] * n, max_tokens=1)
    context.prompt_accepted(status, body, n, CAP)


@capped
def test_prompt_filling_lowered_cap_rejected(model, server):
    """CAP prompt tokens + max_tokens 1: one token over the cap."""
    status, body = _complete(server, model, [_word_id(server, model)] * CAP, max_tokens=1)
    context.healthy(_health(server), f"a {CAP}-token prompt")
    context.no_room_for_output_rejected(status, body, CAP)


@capped
def test_prompt_over_lowered_cap_rejected(model, server):
    n = CAP + 1
    status, body = _complete(server, model, [_word_id(server, model)] * n, max_tokens=1)
    context.healthy(_health(server), f"a {n}-token prompt")
    context.prompt_over_context_rejected(status, body, CAP, n)


@capped
def test_request_past_lowered_cap_capped(model, server):
    """Prompt + max_tokens over the cap: refused naming the cap, or served clamped to the room left."""
    n = CAP - CLAMP_ROOM
    status, body = _complete(server, model, [_word_id(server, model)] * n,
                             max_tokens=CLAMP_ROOM * 5, ignore_eos=True)
    context.healthy(_health(server), "a request past the cap")
    context.request_past_cap_capped(status, body, n, CAP)


@capped
def test_max_tokens_over_lowered_cap_rejected(model, server):
    status, body = _complete(server, model, [_word_id(server, model)] * 8, max_tokens=CAP + 1)
    context.healthy(_health(server), f"max_tokens {CAP + 1}")
    context.max_tokens_over_context_rejected(status, body, CAP, CAP + 1)
