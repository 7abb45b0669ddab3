"""The request-fidelity checks (lfm_conformance/checks/request_fidelity.py) pass on responses shaped as
vLLM 0.32 returns them with `return_token_ids` and fail, naming the problem, on hand-broken ones: the
served prompt (class 1), the streamed twin and the option's effect (class 2), usage (class 3)."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import request_fidelity as fidelity

PROMPT = [1, 6, 40, 41, 42, 7, 10, 6, 50]
REPLY = [80, 81, 82, 7]  # three text tokens, then <|im_end|>
END_IDS = frozenset({0, 1, 7})


def _fails(problem: str, check, *args):
    """The check fails with exactly this problem (its first line)."""
    with pytest.raises(CheckFailed) as info:
        check(*args)
    assert info.value.problem == problem
    return info.value


def _whole(prompt=PROMPT, reply=REPLY, finish="stop", stop_reason=None, usage=None):
    usage = usage or {"prompt_tokens": len(prompt), "completion_tokens": len(reply),
                      "total_tokens": len(prompt) + len(reply)}
    return {"id": "chatcmpl-1", "object": "chat.completion", "prompt_token_ids": prompt, "usage": usage,
            "choices": [{"index": 0, "finish_reason": finish, "stop_reason": stop_reason, "token_ids": reply,
                         "message": {"role": "assistant", "content": "C. elegans"}}]}


def _chunks(prompt=PROMPT, reply=REPLY, finish="stop", stop_reason=None, usage=None):
    usage = usage or {"prompt_tokens": len(prompt), "completion_tokens": len(reply),
                      "total_tokens": len(prompt) + len(reply)}
    chunks = [{"object": "chat.completion.chunk", "prompt_token_ids": prompt,
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for n, token in enumerate(reply):
        last = n == len(reply) - 1
        chunks.append({"object": "chat.completion.chunk", "choices": [{
            "index": 0, "delta": {"content": "x"}, "token_ids": [token], "finish_reason": finish if last else None,
            "stop_reason": stop_reason if last else None}]})
    chunks.append({"object": "chat.completion.chunk", "choices": [], "usage": usage})
    return chunks


def _completion(prompt=PROMPT, reply=REPLY):
    return {"object": "text_completion", "usage": {},
            "choices": [{"index": 0, "text": " energy", "prompt_token_ids": prompt, "token_ids": reply}]}


# -- reading what the server returned --------------------------------------------------------------
def test_ids_are_read_from_both_endpoints_and_both_modes():
    assert fidelity.served_prompt_ids(_whole()) == PROMPT
    assert fidelity.served_prompt_ids(_completion()) == PROMPT
    assert fidelity.streamed_prompt_ids(_chunks()) == PROMPT
    assert fidelity.reply_ids(_whole()) == REPLY
    assert fidelity.streamed_reply_ids(_chunks()) == REPLY
    assert fidelity.streamed_usage(_chunks())["total_tokens"] == len(PROMPT) + len(REPLY)
    assert fidelity.streamed_finish(_chunks(finish="length")) == ("length", None)


@pytest.mark.parametrize("read, response, problem", [
    (fidelity.served_prompt_ids, {"choices": [{"index": 0}]}, "the endpoint did not return the prompt it served"),
    (fidelity.reply_ids, {"choices": [{"index": 0}]}, "the endpoint did not return the reply's token ids"),
    (fidelity.usage_of, {"choices": [{"index": 0}]}, "the response carries no usage"),
    (fidelity.served_prompt_ids, {"choices": []}, "the response has no choices"),
])
def test_a_response_without_what_was_asked_fails(read, response, problem):
    _fails(problem, read, response)


def test_a_stream_without_prompt_ids_reply_ids_or_usage_fails():
    bare = [{k: v for k, v in c.items() if k not in ("prompt_token_ids", "usage")} for c in _chunks()]
    _fails("the stream did not return the prompt it served", fidelity.streamed_prompt_ids, bare)
    _fails("the stream carried no usage", fidelity.streamed_usage, bare)
    for chunk in bare:
        for choice in chunk["choices"]:
            choice.pop("token_ids", None)
    _fails("the stream did not return the reply's token ids", fidelity.streamed_reply_ids, bare)


def test_usage_in_a_chunk_with_choices_fails():
    chunks = _chunks()
    chunks[-2]["usage"] = chunks.pop()["usage"]
    _fails("the stream's usage is not in one final chunk without choices", fidelity.streamed_usage, chunks)


# -- class 1: the served prompt --------------------------------------------------------------------
def test_the_rendering_served_passes():
    fidelity.prompt_equals(list(PROMPT), PROMPT, "the chat template's rendering")


@pytest.mark.parametrize("served, at", [
    (PROMPT[:3] + PROMPT[5:], 3),  # a message dropped
    (PROMPT[:4] + [99] + PROMPT[5:], 4),  # a token rendered differently
    (PROMPT[:-2], 7),  # the generation prompt cut
])
def test_a_different_served_prompt_fails_at_its_first_difference(served, at):
    failure = _fails(f"the prompt the endpoint served differs from the chat template's rendering at token {at}",
                     fidelity.prompt_equals, served, PROMPT, "the chat template's rendering",
                     lambda ids: "|".join(map(str, ids)))
    assert "|" in failure.expected and "|" in failure.observed  # both decoded neighbourhoods


# -- class 2: streamed = non-streamed; the option's effect -----------------------------------------
def test_the_same_tokens_streamed_pass():
    fidelity.same_tokens(_chunks(), _whole())


@pytest.mark.parametrize("chunks, problem", [
    (_chunks(prompt=PROMPT[1:]), "the streamed prompt token ids differ from the non-streaming ones at token 0"),
    (_chunks(reply=[80, 81, 83, 7]), "the streamed reply token ids differ from the non-streaming ones at token 2"),
    (_chunks(finish="length"), "the stream finished differently"),
    (_chunks(stop_reason="soil"), "the stream finished differently"),
])
def test_a_stream_that_served_something_else_fails(chunks, problem):
    _fails(problem, fidelity.same_tokens, chunks, _whole())


def test_in_mode_names_the_mode():
    _fails("streaming: max_tokens 3 did not cut the reply", fidelity.in_mode, "streaming", fidelity.cut_at_cap,
           "stop", [80, 81], 3)


def test_max_tokens_cut_passes_and_an_uncut_reply_fails():
    fidelity.cut_at_cap("length", [80, 81, 82], 3)
    for finish, reply in (("stop", [80, 81, 82]), ("length", [80, 81]), ("length", [80, 81, 82, 83])):
        _fails("max_tokens 3 did not cut the reply", fidelity.cut_at_cap, finish, reply, 3)


REFERENCE = "C. elegans is a tiny nematode worm that lives in soil."


def test_a_reply_cut_at_the_stop_string_passes():
    fidelity.stopped_at("C. elegans is a tiny ", REFERENCE, "nematode", "stop", "nematode")
    fidelity.stopped_at("2 + 2 = 4.", "2 + 2 = 4.", "nematode", "stop", None)  # no stop string to cut at


@pytest.mark.parametrize("text, finish, stop_reason, problem", [
    (REFERENCE, "stop", None, "the stop string 'nematode' is in the reply"),
    ("C. elegans is a ", "stop", "nematode", "the reply was not cut at the stop string"),
    ("C. elegans is a tiny ", "length", None, "a stop string match did not finish with reason 'stop'"),
    ("C. elegans is a tiny ", "stop", None, "a stop string match did not finish with reason 'stop'"),
])
def test_a_stop_string_not_honoured_fails(text, finish, stop_reason, problem):
    _fails(problem, fidelity.stopped_at, text, REFERENCE, "nematode", finish, stop_reason)


# -- class 3: usage --------------------------------------------------------------------------------
def _usage(prompt=len(PROMPT), completion=len(REPLY), total=None):
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion if total is None else total}


@pytest.mark.parametrize("reply, max_tokens, finish, stop_reason", [
    (REPLY, 48, "stop", None),  # ended on its own, far from the cap
    (REPLY, None, "stop", None),  # no cap
    ([80, 81, 82], 3, "length", None),  # cut by the cap
    (REPLY, 4, "stop", None),  # reached the cap on its end token: not cut
    ([80, 81, 82], 3, "stop", "nematode"),  # reached the cap on a stop string: not cut
])
def test_true_usage_passes(reply, max_tokens, finish, stop_reason):
    fidelity.usage_true(_usage(completion=len(reply)), PROMPT, reply, max_tokens, finish, stop_reason, END_IDS)


@pytest.mark.parametrize("usage, reply, max_tokens, finish, problem", [
    (_usage(prompt=3), REPLY, 48, "stop", "usage.prompt_tokens is not the length of the served prompt"),
    (_usage(completion=3), REPLY, 48, "stop", "usage.completion_tokens is not the number of reply tokens"),
    (_usage(total=99), REPLY, 48, "stop", r"usage.total_tokens is not prompt_tokens + completion_tokens"),
    ({"prompt_tokens": 9, "completion_tokens": 4}, REPLY, 48, "stop", "usage lacks a token count"),
    (_usage(), REPLY, 3, "length", "the reply is longer than max_tokens"),
    (_usage(), REPLY, 48, "length", "finish_reason 'length' before the cap was reached"),
    (_usage(completion=3), [80, 81, 82], 3, "stop", "the cap cut the reply without finish_reason 'length'"),
])
def test_untrue_usage_fails(usage, reply, max_tokens, finish, problem):
    _fails(problem, fidelity.usage_true, usage, PROMPT, reply, max_tokens, finish, None, END_IDS)


def test_streamed_usage_must_equal_the_non_streaming_usage():
    fidelity.usage_equal(_usage(), copy.deepcopy(_usage()))
    _fails("the streamed usage differs from the non-streaming usage", fidelity.usage_equal, _usage(completion=3), _usage())
