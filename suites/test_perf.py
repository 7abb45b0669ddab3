"""Performance (opt-in: -m perf or --perf). Guide, "Benchmarking": "Disable prefix caching for
consistent measurements" and `vllm bench serve --dataset-name random --random-input-len 1000
--random-output-len 1000 --request-rate 10000 --num-prompts 64 --ignore-eos`; "Speed-of-Light
Tuning": knobs with a claimed gain, "output identical" (OINK) or "little difference" (the others);
"Multi-GPU": tensor parallelism gives "no meaningful speedup" (a node with 2 GPUs only).

Everything is data in matrix.yaml `benchmarks`: the protocol profile per target (a scaled-down one on
CPU), the models that run it, the knobs and where they do not apply, the throughput baselines.
Each test runs on a server of its own setting (the `baseline` protocol server, or the protocol server
plus one knob). All perf tests of a model share one xdist group, so the baseline tests run first (the
plugin orders tests by configuration) and the knob tests compare with what they measured.
"""
from __future__ import annotations

import httpx
import pytest

from lfm_conformance.checks import perf
from lfm_conformance.data import probes
from lfm_conformance.data.matrix import local_weights
from lfm_conformance.harness import outcomes
from lfm_conformance.serving import gpu as gpu_mod
from lfm_conformance.workloads import benchmarks

pytestmark = pytest.mark.perf

GREEDY_TOKENS = 48
GREEDY_PROBES = {"chat": ("hello", "trivial", "train_speed"), "tools": ("weather",), "vision": ("image_red", "image_blue")}
COMPLETION_PROBES = ("thermodynamics",)
# Tokenizer corpus: plain text, LFM2 special tokens, think tags, code, whitespace, unicode, emoji.
CORPUS = (
    "C. elegans is a tiny nematode worm that lives in soil.",
    "<|startoftext|><|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n",
    '<|tool_call_start|>[get_weather(location="Paris", unit=null)]<|tool_call_end|>',
    "<think>45 minutes is 0.75 hours.</think>The speed is 80 km/h.",
    "def f(x):\n\treturn x ** 2  # squares\n\n\n    indented   spaces",
    "東京は日本の首都です。カタカナ、ひらがな、漢字。",
    "Ünïcödé çàfé naïve — “quotes” ‘single’ … €100 ½ ∑ ∞",
    "emoji 🚀🤖👩‍💻🇯🇵 and combining e\u0301 a\u0308",
    "Здравствуйте, мир! مرحبا بالعالم שלום עולם",
    "<|im_end|><|im_end|><|pad|>  <|endoftext|>",
)
# No system turn: vLLM's /tokenize passes message content as a list of parts, and the fixtures' chat
# template concatenates a system turn's content as a string ("can only concatenate str (not "list")
# to str", HTTP 400 with or without fastokens; a template finding, not the tokenizer shim's).
CHAT_CORPUS = (
    [{"role": "user", "content": "Bonjour ! Quel temps fait-il à Paris ? 🌦"}],
    [{"role": "user", "content": "日本語で答えてください。"}, {"role": "assistant", "content": "はい、わかりました。"},
     {"role": "user", "content": "ありがとう"}],
)

_MEASURED: dict[tuple[str, str], dict] = {}  # (model, setting) -> outputs / figures, for the knob comparisons


# -- parametrization: one setting per test (baseline, or a knob), each a server configuration ------
def pytest_generate_tests(metafunc):
    if "parallel" in metafunc.fixturenames:  # a multi-GPU setting: its own server beside the baseline one
        tp = _plan(metafunc.config).tensor_parallel
        params = [] if tp is None else [pytest.param(tp, id=tp.name, marks=[
            pytest.mark.serve_config(extra_args=_plan(metafunc.config).serve_args + tp.args), pytest.mark.xdist_group("perf")])]
        metafunc.parametrize("parallel", params)
    if "setting" not in metafunc.fixturenames:
        return
    plan = _plan(metafunc.config)
    wanted = metafunc.function.perf_settings
    params = []
    if "baseline" in wanted:
        params.append(_param("baseline", None, plan))
    for knob in plan.knobs:
        if "knobs" in wanted or knob.name in wanted:
            params.append(_param(knob.name, knob, plan))
    metafunc.parametrize("setting", params)


def _param(name: str, knob, plan):
    args = plan.serve_args + (knob.args if knob else ())
    marks = [pytest.mark.serve_config(extra_args=args, extra_env=knob.env if knob else {}),
             pytest.mark.xdist_group("perf")]
    return pytest.param(knob, id=name, marks=marks)


def _plan(config):
    from lfm_conformance.harness.plugin import STATE

    state = config.stash[STATE]
    return benchmarks.plan(state.matrix, state.target)


def settings(*names):
    """The settings a test runs on: "baseline", "knobs" (every knob) or knob names."""
    def mark(fn):
        fn.perf_settings = names
        return fn
    return mark


@pytest.fixture
def bench(request, model, setting, matrix, target):
    """(plan, where, blackwell, running server) for this test's setting, or a skip saying why not here."""
    plan = benchmarks.plan(matrix, target)
    where = benchmarks.where(matrix, target)
    if setting is None and not plan.runs_protocol(model):
        pytest.skip(f"not applicable: the protocol runs on {', '.join(plan.models)} on {target} (matrix.yaml benchmarks.targets; "
                    f"one model per architecture)")
    if setting is not None:
        reason = plan.knob_skip_reason(setting, model, target) or plan.knob_skip_reason(setting, model, where)
        if reason:
            pytest.skip(reason)
        rejected = benchmarks.rejection(setting.args) if setting.args else None
        if rejected:
            pytest.skip(f"not run: vLLM rejects {setting.setting} ({rejected}); test_knob_settings_accepted reports it")
    blackwell = where in matrix.gpus and matrix.gpus[where].blackwell
    return plan, where, blackwell, request.getfixturevalue("server")


# -- greedy outputs ------------------------------------------------------------------------------
def _greedy_outputs(server, model) -> dict[str, list[int]]:
    """Output token ids per probe at temperature 0 with a fixed seed, one request at a time."""
    body = {"model": model.hf_id, "temperature": 0, "seed": 0, "max_tokens": GREEDY_TOKENS, "return_token_ids": True}
    out = {}
    if model.has("completions"):
        for probe in COMPLETION_PROBES:
            resp = httpx.post(server.url("/v1/completions"), timeout=300,
                              json={**body, "prompt": probes.completion_prompt(probe)}).json()
            out[probe] = resp["choices"][0]["token_ids"]
    for cap, ids in GREEDY_PROBES.items():
        if not model.has(cap):
            continue
        for probe in ids:
            resp = httpx.post(server.url("/v1/chat/completions"), timeout=300, json={**body, **probes.chat(probe)}).json()
            out[probe] = resp["choices"][0]["token_ids"]
    return out


def _baseline(model, server_pool, serve_config_for) -> dict:
    """What the baseline server measured in this run; measured now (starting it if need be) when
    the baseline tests were not selected."""
    key = (model.name, "baseline")
    if "outputs" not in _MEASURED.get(key, {}):
        server = server_pool.get(serve_config_for(model))
        _MEASURED.setdefault(key, {})["outputs"] = _greedy_outputs(server, model)
    return _MEASURED[key]


@pytest.fixture
def baseline_config(matrix, target):
    plan = benchmarks.plan(matrix, target)
    return lambda model: matrix.serve_config(model, target, extra_args=plan.serve_args)


# -- the protocol --------------------------------------------------------------------------------
def _protocol(server, model, profile) -> dict:
    # The benchmark's tokenizer: the fixture, or the real weights' snapshot in the target's hub cache.
    run = benchmarks.serve(server.url(), local_weights(server.config, server.model_path), model.hf_id, profile)
    figures = benchmarks.figures(run["result"])
    perf.protocol_completed(figures, profile.num_prompts, run["result"].get("errors"))
    return figures


@settings("baseline")
def test_benchmark_protocol(model, setting, bench, record_property, request, cpu_shim):
    """The guide's protocol against the documented serve command plus --no-enable-prefix-caching;
    output throughput gated against the (model, GPU/target) baseline."""
    plan, where, blackwell, server = bench
    figures = _protocol(server, model, plan.profile)
    _MEASURED.setdefault((model.name, "baseline"), {})["figures"] = {**figures, "startup_s": server.ready_s}
    base = plan.baseline(model.name, where)
    record_property("figures", {"kind": "perf", "test": "protocol", "model": model.name, "where": where,
                                "profile": vars(plan.profile), "server_args": list(server.config.args),
                                **figures, "startup_s": server.ready_s, "baseline": vars(base) if base else None})
    if not plan.throughput_gate:
        outcomes.measured(request.node)  # the target gates no throughput (matrix.yaml benchmarks.targets)
    elif cpu_shim is not None and base is not None:
        pytest.skip(f"not run: the servers load cpu shim {cpu_shim}, which changes vLLM's CPU kernels; the baseline "
                    f"({base.value} tok/s) was recorded without it. Measured {figures[base.metric]:.1f} tok/s: "
                    "compare versions with the release diff")
    elif base is None:
        pytest.skip(f"pending: no output-throughput baseline for {model.name} on {where} (measured "
                    f"{figures['output_throughput']:.1f} tok/s): record it from this run with `./run conformance -m perf "
                    f"-k 'test_benchmark_protocol and {model.name}'` on {where}, then add it to matrix.yaml "
                    f"benchmarks.baselines")
    else:
        perf.throughput_within_baseline(figures[base.metric], base.value, base.rtol, base.metric, where, base.source)


@settings("baseline")
def test_greedy_outputs_deterministic(model, setting, bench):
    """Temperature 0 with a fixed seed gives the same tokens twice: the premise of the knob checks."""
    plan, where, blackwell, server = bench
    first = _greedy_outputs(server, model)
    perf.greedy_deterministic(first, _greedy_outputs(server, model))
    _MEASURED.setdefault((model.name, "baseline"), {})["outputs"] = first


@settings("baseline", "fastokens")
def test_tokenization_bound_ttft(model, setting, bench, record_property, request):
    """TTFT on a tokenization-bound load (long prompts, one output token), on the baseline server and
    with VLLM_USE_FASTOKENS=1 ("lower TTFT on tokenization-bound loads")."""
    plan, where, blackwell, server = bench
    if setting is None and plan.knob_models is not None and model.name != plan.knob_models.get("text"):
        pytest.skip(f"not applicable: the tokenization-bound load runs on the fastokens knob's model, {plan.knob_models.get('text')}")
    figures = _protocol(server, model, plan.tokenization_profile)
    name = setting.name if setting else "baseline"
    base = _MEASURED.get((model.name, "baseline"), {}).get("tokenization_figures")
    _MEASURED.setdefault((model.name, name), {})["tokenization_figures"] = figures
    delta = (figures["mean_ttft_ms"] / base["mean_ttft_ms"] - 1) if base and setting else None
    record_property("figures", {"kind": "perf", "test": "tokenization_bound_ttft", "model": model.name, "where": where,
                                "setting": name, "profile": vars(plan.tokenization_profile), **figures,
                                "mean_ttft_vs_baseline": delta})
    if setting is not None and base and _claim_applies(plan, setting, blackwell):
        perf.gain_meets_claim(1 / base["mean_ttft_ms"], 1 / figures["mean_ttft_ms"], setting.claimed_gain,
                              plan.gain_tolerance, setting.setting, metric="1 / mean TTFT")
    else:
        outcomes.measured(request.node)  # figures only: no claim gated here


# -- knobs ---------------------------------------------------------------------------------------
@settings("knobs")
def test_knob_settings_accepted(model, setting, matrix, target):
    """vLLM's own server argument parser accepts the knob setting the guide documents (one test per
    knob: a rejection of one knob never hides or stands for another's)."""
    plan = benchmarks.plan(matrix, target)
    if plan.knob_models is not None and model.name not in plan.knob_models.values():
        pytest.skip(f"not applicable: knobs are checked on {', '.join(plan.knob_models.values())} on {target}")
    if not setting.args:
        pytest.skip(f"not applicable: {setting.setting} is an environment setting, not a server argument")
    perf.knob_accepted(setting.setting, benchmarks.rejection(setting.args))


@settings("knobs")
def test_knob_keeps_greedy_outputs(model, setting, bench, server_pool, baseline_config, record_property):
    """With the knob, greedy outputs are token-for-token those of the server without it."""
    plan, where, blackwell, server = bench
    baseline = _baseline(model, server_pool, baseline_config)["outputs"]
    with_knob = _greedy_outputs(server, model)
    record_property("figures", {"kind": "perf", "test": "knob_outputs", "model": model.name, "where": where,
                                "knob": setting.name, "setting": setting.setting, "promise": setting.promise,
                                "prompts": len(baseline),
                                "identical": sum(baseline[p] == with_knob.get(p) for p in baseline)})
    perf.greedy_outputs_identical(baseline, with_knob, setting.setting, setting.promise)


@settings("knobs")
def test_knob_throughput_vs_claim(model, setting, bench, record_property, request):
    """The protocol with the knob, side by side with the baseline server's run; the gain is compared
    with the guide's claim where the claim applies (GPU; Blackwell for OINK)."""
    plan, where, blackwell, server = bench
    figures = _protocol(server, model, plan.profile)
    base = _MEASURED.get((model.name, "baseline"), {}).get("figures")
    gain = figures["output_throughput"] / base["output_throughput"] - 1 if base else None
    # Start-up beside the baseline server's: what -O3 trades ("a longer one-time startup/compile").
    record_property("figures", {"kind": "perf", "test": "knob_throughput", "model": model.name, "where": where,
                                "knob": setting.name, "setting": setting.setting, "claim": setting.guide,
                                "claimed_gain": setting.claimed_gain, "measured_gain": gain, **figures,
                                "baseline_output_throughput": base["output_throughput"] if base else None,
                                "startup_s": server.ready_s, "baseline_startup_s": base.get("startup_s") if base else None})
    if base is None:
        pytest.skip("not run: no baseline protocol figures in this run (test_benchmark_protocol not selected); "
                    f"measured {figures['output_throughput']:.1f} tok/s with {setting.setting}")
    if setting.measure != "output_throughput":
        # A knob whose claim is about another figure (FASTOKENS: TTFT, test_tokenization_bound_ttft): its
        # decode throughput beside the baseline's is measured ("doesn't show up in steady-state decode
        # throughput"), not gated: one run's ratio on a shared machine is no verdict.
        outcomes.measured(request.node)
        return
    if _claim_applies(plan, setting, blackwell):
        perf.gain_meets_claim(base["output_throughput"], figures["output_throughput"], setting.claimed_gain,
                              plan.gain_tolerance, setting.setting)
    else:
        outcomes.measured(request.node)  # the claimed gain is a GPU claim: reported, not gated, here


def _gpus_here() -> int:
    """GPUs nvidia-smi reports on this machine (0 without one)."""
    text = gpu_mod.query_nvidia_smi()
    return len(text.strip().splitlines()) if text else 0


def test_tensor_parallel_gain_vs_claim(model, parallel, matrix, target, request, record_property):
    """Multi-GPU: the protocol on a server with tensor parallelism (matrix.yaml benchmarks.tensor_parallel) beside
    the baseline (size 1) server's run on the same node: "no meaningful speedup ... expect no throughput gain"."""
    plan = benchmarks.plan(matrix, target)
    gpus = _gpus_here()
    if gpus < parallel.gpus:
        pytest.skip(f"not applicable: {parallel.name} needs {parallel.gpus} GPUs on one node; "
                    f"this run has {gpus} ({target})")
    if not plan.runs_protocol(model):
        pytest.skip(f"not applicable: the protocol runs on {', '.join(plan.models)} on {target}")
    server = request.getfixturevalue("server")
    figures = _protocol(server, model, plan.profile)
    base = _MEASURED.get((model.name, "baseline"), {}).get("figures")
    gain = figures["output_throughput"] / base["output_throughput"] - 1 if base else None
    record_property("figures", {"kind": "perf", "test": "tensor_parallel", "model": model.name,
                                "where": benchmarks.where(matrix, target), "setting": parallel.setting,
                                "claim": parallel.guide, "max_gain": parallel.max_gain, "measured_gain": gain,
                                "gpus": gpus, **figures,
                                "baseline_output_throughput": base["output_throughput"] if base else None})
    if base is None:
        pytest.skip("not run: no baseline protocol figures in this run (test_benchmark_protocol not selected); "
                    f"measured {figures['output_throughput']:.1f} tok/s with {parallel.setting}")
    if plan.gain_tolerance is None:
        outcomes.measured(request.node)  # a target that gates no claimed gain (fixtures): reported only
        return
    perf.tensor_parallel_gain_within_claim(base["output_throughput"], figures["output_throughput"],
                                           parallel.max_gain, parallel.setting)


def _claim_applies(plan, knob, blackwell: bool) -> bool:
    """Claimed gains are GPU claims (gated where the target has a gain tolerance), OINK's on Blackwell."""
    return plan.gain_tolerance is not None and (knob.gain_on == "all" or blackwell)


# -- the tokenizer shim --------------------------------------------------------------------------
@settings("fastokens")
def test_fastokens_token_ids_match_hf_tokenizer(model, setting, bench):
    """With VLLM_USE_FASTOKENS=1 the server tokenizes text, special tokens, unicode and chat
    templates exactly as the Hugging Face tokenizer does."""
    from transformers import AutoTokenizer

    plan, where, blackwell, server = bench
    hf = AutoTokenizer.from_pretrained(local_weights(server.config, server.model_path))
    for text in CORPUS:
        resp = httpx.post(server.url("/tokenize"), json={"model": model.hf_id, "prompt": text}, timeout=60)
        served = perf.tokenized(resp.status_code, resp.json(), f"prompt {text!r}")
        perf.token_ids_equal(served, hf(text)["input_ids"], text, "Hugging Face")
    if hf.chat_template:
        for messages in CHAT_CORPUS:
            resp = httpx.post(server.url("/tokenize"), timeout=60, json={
                "model": model.hf_id, "messages": messages, "add_generation_prompt": True})
            served = perf.tokenized(resp.status_code, resp.json(), "chat messages")
            rendered = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            perf.token_ids_equal(served, hf(rendered, add_special_tokens=False)["input_ids"], rendered,
                                 "Hugging Face (chat template)")
    for text in CORPUS:  # and back: the served detokenization
        ids = hf(text, add_special_tokens=False)["input_ids"]
        served = httpx.post(server.url("/detokenize"), json={"model": model.hf_id, "tokens": ids}, timeout=60).json()
        expected = hf.decode(ids)
        if served.get("prompt") != expected:
            perf.token_ids_equal(hf(served.get("prompt") or "", add_special_tokens=False)["input_ids"], ids, text,
                                 "Hugging Face (detokenize round trip)")

