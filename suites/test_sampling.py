"""Sampling presets. Guide, "Recommended Sampling": per-model temperature / top_k / min_p /
repetition_penalty; "top_k, min_p, and repetition_penalty are vLLM extra sampling params — pass them
via extra_body on the OpenAI client (or top-level in a raw /v1/... request)"; "Do not bake these into
vllm serve — they are per-request client defaults, not server flags."

vLLM's default `--generation-config auto` also takes sampling defaults from the checkpoint's
generation_config.json and applies them to every request that leaves a parameter unset (reported at
start-up); a request carrying the guide's preset must still be sampled with the preset alone.

Chat models are probed with the "hello" chat probe, the completions-only Base model with the
"thermodynamics" completion prompt. Each parameter is shown to take effect (not merely be accepted):
the output with it differs from the same request without it.
"""
import json
from pathlib import Path

import httpx
import openai
import pytest

from lfm_conformance.checks import context, sampling
from lfm_conformance.data import probes
from lfm_conformance.data.matrix import local_weights

REPLY_BOUND = 256  # bounds a derailed reply; taught probes end far earlier
EFFECT_BOUND = 24
SEEDS = (1, 2, 3)
HOT = 2.0  # vLLM's highest accepted temperature: the flattest distribution a filter must narrow
HEAVY_PENALTY = 10.0  # the CPU fixtures, trained to their replies, need > 2.5 to leave them
OUT_OF_RANGE = [
    pytest.param("temperature", -1, id="temperature=-1"),
    pytest.param("top_k", -5, id="top_k=-5"),  # -1 means "disabled" in vLLM (SamplingParams)
    pytest.param("min_p", 1.5, id="min_p=1.5"),
    pytest.param("repetition_penalty", 0, id="repetition_penalty=0"),
    pytest.param("repetition_penalty", -1, id="repetition_penalty=-1"),
]


def _via_sdk(server, model, params: dict) -> tuple[int, dict]:
    """A request as the guide sends it (OpenAI SDK; params from probes.sampling, extras in
    extra_body): the status and JSON body the server sent."""
    client = server.client()
    try:
        if model.has("completions"):
            raw = client.completions.with_raw_response.create(
                model=model.hf_id, prompt=probes.completion_prompt("thermodynamics"), **params)
        else:
            raw = client.chat.completions.with_raw_response.create(model=model.hf_id, **probes.chat("hello"), **params)
    except openai.APIStatusError as exc:
        return exc.status_code, exc.response.json()
    return raw.status_code, raw.http_response.json()


def _via_raw_http(server, model, body: dict) -> tuple[int, dict]:
    """A raw /v1/... request with every parameter at the top level of the JSON body."""
    if model.has("completions"):
        path, probe = "/v1/completions", {"prompt": probes.completion_prompt("thermodynamics")}
    else:
        path, probe = "/v1/chat/completions", probes.chat("hello")
    resp = httpx.post(server.url(path), json={"model": model.hf_id, **probe, **body}, headers=_headers(server),
                      timeout=120)
    return resp.status_code, resp.json()


def _headers(server) -> dict:
    return {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}


def _output(server, model, **params) -> str:
    """The text of one bounded request with exactly these sampling parameters (no preset)."""
    status, body = _via_sdk(server, model, probes.sampling({}, max_tokens=EFFECT_BOUND, **params))
    sampling.accepted(status, body)
    return sampling.reply_text(body)


def _health(server) -> int:
    return httpx.get(server.url("/health"), headers=_headers(server), timeout=30).status_code


def test_preset_in_extra_body_accepted(model, server):
    sampling.accepted(*_via_sdk(server, model, probes.sampling(model.preset, max_tokens=REPLY_BOUND)))


def test_preset_top_level_in_raw_request_accepted(model, server):
    sampling.accepted(*_via_raw_http(server, model, {**model.preset, "max_tokens": REPLY_BOUND}))


def test_repetition_penalty_changes_greedy_output(model, server):
    plain = _output(server, model, temperature=0)
    penalised = _output(server, model, temperature=0, repetition_penalty=HEAVY_PENALTY)
    sampling.takes_effect([plain], [penalised], f"repetition_penalty={HEAVY_PENALTY} at temperature 0")


@pytest.mark.parametrize("name,value", [("top_k", 1), ("min_p", 1.0)], ids=["top_k=1", "min_p=1.0"])
def test_filter_reduces_sampling_to_greedy(model, server, name, value):
    """top_k=1 and min_p=1.0 keep only the most likely token: sampling at temperature 2.0 then
    reproduces the greedy output for every seed, where the same seeds without the filter do not."""
    greedy = _output(server, model, temperature=0)
    free = [_output(server, model, temperature=HOT, seed=s) for s in SEEDS]
    filtered = [_output(server, model, temperature=HOT, seed=s, **{name: value}) for s in SEEDS]
    sampling.takes_effect(free, filtered, f"{name}={value} at temperature {HOT}")
    sampling.reproduces(filtered, greedy, f"{name}={value} at temperature {HOT}")


@pytest.mark.parametrize("name,value", OUT_OF_RANGE)
def test_out_of_range_value_rejected(model, server, name, value):
    status, body = _via_sdk(server, model, probes.sampling(model.preset, max_tokens=8, **{name: value}))
    sampling.rejected_client_error(status, body, name)
    context.healthy(_health(server), f"{name}={value}")


def test_server_command_has_no_sampling_flags(model, server):
    sampling.no_sampling_flags(server.command())


def _checkpoint_generation_config(server, serve_config) -> dict:
    """The served checkpoint's generation_config.json: the fixture's folder, or the snapshot of the real
    weights in the hub cache the target's servers read (its `env`); {} when the checkpoint ships none.
    A snapshot that cannot be found, or a file that cannot be read, is the suite's error: never a silent None."""
    folder = Path(local_weights(serve_config, server.model_path))
    if not folder.is_dir():  # an online target whose weights are not in the cache: cannot tell
        pytest.skip(f"not run: {serve_config.source} has no local snapshot to read its generation_config.json from")
    path = folder / "generation_config.json"
    if not path.exists():
        return {}  # the checkpoint ships none (a full snapshot has every file of the repository): no defaults
    return json.loads(path.read_text(encoding="utf-8"))


def test_preset_request_gets_no_server_default(model, server, serve_config, record_property):
    """The defaults vLLM reports applying (read from its start-up log) leave a request carrying the guide's
    preset, max_tokens unset, with the preset alone: none fills a parameter the preset leaves out (top_p,
    the other filter, penalties, max_tokens). The checkpoint's generation_config.json and what a request
    without any sampling parameter gets are recorded beside it."""
    defaults, source = sampling.served_defaults(server.log_text())
    shipped = sampling.shipped_defaults(_checkpoint_generation_config(server, serve_config))
    record_property("figures", {
        "kind": "sampling_defaults", "model": model.name, "server_defaults": defaults, "source": source,
        "checkpoint_sampling": shipped, "preset": model.preset,
        "preset_request": sampling.effective_params(model.preset, defaults),
        "bare_request": sampling.effective_params({}, defaults)})
    if shipped and not defaults:
        pytest.skip(f"not run: the checkpoint's generation_config.json sets {shipped} but the server log reports no "
                    "sampling defaults: cannot tell what this vLLM applies")
    sampling.preset_gets_no_server_default(model.preset, defaults, source)
