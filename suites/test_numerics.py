"""Numerics: the served architecture computes what transformers computes for the same weights.
On CPU this runs on the live-attention variant of each fixture (fixtures/reference.py), since the
taught fixtures keep attention degenerate; with real weights, on the model's own server."""
import httpx
import pytest

from lfm_conformance.checks import numerics
from lfm_conformance.data.matrix import local_weights
from lfm_conformance.workloads import reference

TEXT = "C. elegans is a tiny nematode worm that lives in soil. The speed is 80 km/h. What is in this image?"


@pytest.mark.serve_config(variant="live-attention")
def test_served_logprobs_match_transformers_reference(model, server, serve_config):
    ids = httpx.post(server.url("/tokenize"), json={"model": model.hf_id, "prompt": TEXT}, timeout=60).json()["tokens"]
    response = httpx.post(server.url("/v1/completions"), timeout=120, json={
        "model": model.hf_id, "prompt": ids, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0}).json()
    served = numerics.served_prompt_logprobs(response, ids)
    # The served weights as transformers loads them here: the fixture's folder, or the real weights'
    # snapshot in the hub cache the target's servers read (its `env`, e.g. HF_HUB_CACHE).
    expected = reference.prompt_logprobs(local_weights(serve_config, server.model_path), model.architecture, ids)
    tokens = [str(t) for t in ids]
    numerics.logprobs_match(served, expected, serve_config.target.logprob_tolerance, tokens)
