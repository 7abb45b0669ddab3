"""Architecture loading: each model's server starts with the documented flags and serves it.
Guide: "All LFM2.5 language and vision-language models are supported natively by vLLM (the
Lfm2ForCausalLM, Lfm2MoeForCausalLM, and Lfm2VlForConditionalGeneration architectures)."
"""
from lfm_conformance.checks import loading
from lfm_conformance.data import probes

REPLY_BOUND = 256  # bounds a derailed reply; taught probes end far earlier


def test_server_starts_with_documented_flags(model, server_start):
    loading.server_started(server_start, model.architecture)


def test_models_endpoint_lists_model_with_documented_context(model, server):
    loading.model_listed(server.get_json("/v1/models"), model.hf_id, model.context)


def test_resolved_architecture_matches_matrix(model, server):
    loading.architecture_resolved(server.log_text(), model.architecture)


def test_first_request_returns_text(model, server):
    client = server.client()
    if model.has("completions"):
        response = client.completions.create(
            model=model.hf_id, prompt=probes.completion_prompt("thermodynamics"),
            **probes.sampling(model.preset, max_tokens=REPLY_BOUND))
        loading.reply_has_text(response.model_dump(), "completions")
    else:
        response = client.chat.completions.create(
            model=model.hf_id, **probes.chat("hello"), **probes.sampling(model.preset, max_tokens=REPLY_BOUND))
        loading.reply_has_text(response.model_dump(), "chat")
