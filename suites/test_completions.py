"""Completions: the Base model (matrix capability "completions") through /v1/completions with the
guide's preset, and the chat models' completions endpoint. Guide: "LFM2.5-1.2B-Base is not
instruction-tuned and has no chat template — use the completions endpoint"."""
import httpx
import pytest

from lfm_conformance.checks import completions
from lfm_conformance.data import probes

BOUND = 64  # bounds a derailed continuation; the taught one ends far earlier
PROMPT = probes.completion_prompt("thermodynamics")
STOP = ","  # occurs in the taught continuation (and in most continuations of PROMPT)
base_only = pytest.mark.requires("completions")


def _complete(server, model, **overrides):
    """client.completions.create as the guide calls it; overrides replace preset fields."""
    sampling = {k: overrides.pop(k) for k in list(overrides) if k in model.preset or k == "max_tokens"}
    return server.client().completions.create(
        model=model.hf_id, prompt=overrides.pop("prompt", PROMPT),
        **probes.sampling(model.preset, **{"max_tokens": BOUND, **sampling}), **overrides)


@base_only
def test_completion_returns_text_with_guide_preset(model, server):
    completions.completion_has_text(_complete(server, model).model_dump())


@base_only
def test_echo_returns_prompt_then_continuation(model, server):
    completions.echoed(_complete(server, model, echo=True).model_dump(), PROMPT)


@base_only
def test_logprobs_align_with_text(model, server):
    completions.logprobs_aligned(_complete(server, model, logprobs=2).model_dump(), top=2)


@base_only
def test_n_returns_that_many_choices(model, server):
    completions.n_choices(_complete(server, model, n=2).model_dump(), 2)


@base_only
def test_stop_string_cuts_text_before_it(model, server):
    reference = completions.completion_has_text(_complete(server, model, temperature=0).model_dump())
    if STOP not in reference:
        pytest.skip(f"not run: the greedy continuation has no {STOP!r} to stop at: {reference!r}")
    stopped = _complete(server, model, temperature=0, stop=[STOP]).model_dump()
    completions.stopped_at(stopped, STOP, reference)


@base_only
def test_stream_deltas_concatenate_to_greedy_text(model, server):
    full = _complete(server, model, temperature=0).model_dump()
    chunks = [chunk.model_dump() for chunk in _complete(server, model, temperature=0, stream=True)]
    completions.stream_matches(chunks, full)


@base_only
def test_chat_request_refused_for_missing_chat_template(model, server):
    payload = {"model": model.hf_id, **probes.chat("hello"), **model.preset, "max_tokens": BOUND}
    response = httpx.post(server.url("/v1/chat/completions"), json=payload, timeout=120)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    completions.chat_refused_without_template(response.status_code, body)
    completions.server_healthy(httpx.get(server.url("/health"), timeout=30).status_code, "a chat request")


@pytest.mark.requires("tools")
def test_chat_model_serves_completions(model, server):
    """The dense chat models answer /v1/completions too (a raw prompt, no chat template)."""
    response = _complete(server, model, prompt="The capital of France is", max_tokens=16)
    completions.completion_has_text(response.model_dump())
