"""What the endpoint did with the request: the prompt `/v1/chat/completions` (or `/v1/completions`)
really served, each request option honoured streamed and not, and `usage` true to the tokens.

The server says what it served when asked (`return_token_ids: true`, vLLM >= 0.26 on both endpoints):
the prompt's token ids (chat: the response's `prompt_token_ids`, streamed in the first chunk;
completions: the choice's `prompt_token_ids`) and the reply's (`choices[0].token_ids`, streamed per
chunk). The checks compare those with the chat template's rendering (or the tokenizer's encoding of a
raw prompt), with the streamed twin of the request, and with `usage`.
Guide: "all served through vLLM's OpenAI-compatible API"; "Leave max_tokens unset — capping it
truncates ..."; the Base model's completions endpoint."""
from __future__ import annotations

from lfm_conformance.checks import CheckFailed, chat_template, excerpt

CONTEXT_TOKENS = chat_template.CONTEXT_TOKENS
ASKED = "return_token_ids: true in the request"


# -- what the server returned ---------------------------------------------------------------------
def _choice(response: dict) -> dict:
    choices = response.get("choices") or []
    if not choices:
        raise CheckFailed("the response has no choices", "one choice", "none", excerpt(response))
    return choices[0]


def served_prompt_ids(response: dict) -> list[int]:
    """The prompt token ids a non-streaming response says it served (chat: top level; completions:
    on the choice)."""
    ids = response.get("prompt_token_ids")
    if ids is None:
        ids = _choice(response).get("prompt_token_ids")
    if not isinstance(ids, list) or not ids:
        raise CheckFailed("the endpoint did not return the prompt it served", f"prompt_token_ids ({ASKED})",
                          f"prompt_token_ids {ids!r}", excerpt(response, 300))
    return ids


def streamed_prompt_ids(chunks: list[dict]) -> list[int]:
    """The prompt token ids a stream carries (once, in its first chunk with them)."""
    carried = [c["prompt_token_ids"] for c in chunks if c.get("prompt_token_ids") is not None]
    carried += [ch["prompt_token_ids"] for c in chunks for ch in c.get("choices") or []
                if ch.get("prompt_token_ids") is not None]
    if not carried or not carried[0]:
        raise CheckFailed("the stream did not return the prompt it served", f"prompt_token_ids in a chunk ({ASKED})",
                          f"no chunk of {len(chunks)} carries prompt_token_ids", excerpt(chunks[:2], 300))
    if any(ids != carried[0] for ids in carried[1:]):
        raise CheckFailed("the stream carries different prompts", "one prompt_token_ids",
                          f"{len(carried)} different ones", excerpt(carried, 300))
    return carried[0]


def reply_ids(response: dict) -> list[int]:
    """The reply's token ids of a non-streaming response."""
    ids = _choice(response).get("token_ids")
    if not isinstance(ids, list):
        raise CheckFailed("the endpoint did not return the reply's token ids", f"choices[0].token_ids ({ASKED})",
                          f"token_ids {ids!r}", excerpt(response, 300))
    return ids


def streamed_reply_ids(chunks: list[dict]) -> list[int]:
    """The reply's token ids of a stream: each chunk's choices[0].token_ids, in order."""
    carrying = [ch for c in chunks for ch in c.get("choices") or [] if ch.get("token_ids") is not None]
    if not carrying and any(c.get("choices") for c in chunks):
        raise CheckFailed("the stream did not return the reply's token ids", f"choices[].token_ids ({ASKED})",
                          f"no chunk of {len(chunks)} carries token_ids", excerpt(chunks[-2:], 300))
    return [i for ch in carrying for i in ch["token_ids"]]


def finish_of(response: dict) -> tuple[str | None, object]:
    choice = _choice(response)
    return choice.get("finish_reason"), choice.get("stop_reason")


def streamed_finish(chunks: list[dict]) -> tuple[str | None, object]:
    """The stream's last finish_reason and the stop_reason beside it."""
    finish, stop = None, None
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if choice.get("finish_reason"):
                finish, stop = choice["finish_reason"], choice.get("stop_reason")
    return finish, stop


def usage_of(response: dict) -> dict:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        raise CheckFailed("the response carries no usage", "usage {prompt_tokens, completion_tokens, total_tokens}",
                          f"usage {usage!r}", excerpt(response, 300))
    return usage


def streamed_usage(chunks: list[dict]) -> dict:
    """The usage of a stream asked with stream_options.include_usage: one chunk after the last choice, no choices."""
    carrying = [n for n, c in enumerate(chunks) if c.get("usage")]
    if not carrying:
        raise CheckFailed("the stream carried no usage", "a final chunk with usage (stream_options.include_usage)",
                          f"no chunk of {len(chunks)} carries usage", excerpt(chunks[-2:], 300))
    if carrying != [len(chunks) - 1] or chunks[-1].get("choices"):
        raise CheckFailed("the stream's usage is not in one final chunk without choices",
                          "usage in the last chunk only, choices []", f"usage in chunks {carrying} of {len(chunks)}",
                          excerpt([chunks[n] for n in carrying][:3], 300))
    return chunks[-1]["usage"]


# -- class 1: the prompt served is the rendering --------------------------------------------------
def prompt_equals(served: list[int], reference: list[int], source: str, decode=None) -> None:
    """The served prompt equals `source` (e.g. "the chat template's rendering") token for token; on a
    difference, the first differing position and both decoded neighbourhoods."""
    if (diff := chat_template.token_difference(served, reference, decode)) is not None:
        at, expected, observed, evidence = diff
        raise CheckFailed(f"the prompt the endpoint served differs from {source} at token {at}", expected, observed, evidence)


# -- class 2: streamed = non-streamed, the option's effect in both modes ----------------------------
def in_mode(mode: str, check, *args, **kwargs):
    """Run a check on one mode's response; its failure says which mode ("streaming: ...")."""
    try:
        return check(*args, **kwargs)
    except CheckFailed as exc:
        raise CheckFailed(f"{mode}: {exc.problem}", exc.expected, exc.observed, exc.evidence) from None


def same_tokens(chunks: list[dict], whole: dict) -> None:
    """The stream served the same prompt, generated the same reply tokens and stopped for the same
    stop_reason as the non-streaming request (greedy: one outcome)."""
    for what, streamed, non_streamed in (("prompt", streamed_prompt_ids(chunks), served_prompt_ids(whole)),
                                         ("reply", streamed_reply_ids(chunks), reply_ids(whole))):
        if streamed != non_streamed:
            at = next((i for i, (a, b) in enumerate(zip(streamed, non_streamed)) if a != b),
                      min(len(streamed), len(non_streamed)))
            raise CheckFailed(f"the streamed {what} token ids differ from the non-streaming ones at token {at}",
                              f"{len(non_streamed)} ids; from {at}: {non_streamed[at:at + CONTEXT_TOKENS]}",
                              f"{len(streamed)} ids; from {at}: {streamed[at:at + CONTEXT_TOKENS]}")
    (finish, stop), (s_finish, s_stop) = finish_of(whole), streamed_finish(chunks)
    if (s_finish, s_stop) != (finish, stop):
        raise CheckFailed("the stream finished differently", f"finish_reason {finish!r}, stop_reason {stop!r}",
                          f"finish_reason {s_finish!r}, stop_reason {s_stop!r}")


def cut_at_cap(finish_reason: str | None, reply: list[int], max_tokens: int) -> None:
    """A reply longer than the cap: cut at exactly max_tokens tokens, finish_reason "length"."""
    if len(reply) != max_tokens or finish_reason != "length":
        raise CheckFailed(f"max_tokens {max_tokens} did not cut the reply",
                          f"{max_tokens} reply tokens, finish_reason 'length'",
                          f"{len(reply)} reply tokens, finish_reason {finish_reason!r}")


def stopped_at(text: str, reference: str, stop: str, finish_reason: str | None, stop_reason) -> None:
    """stop=[stop]: the reply text is the same request's reply without `stop` cut just before it,
    finish_reason "stop", stop_reason the string (vLLM's field)."""
    if stop in text:
        raise CheckFailed(f"the stop string {stop!r} is in the reply", f"the reply cut before {stop!r}",
                          f"{excerpt(text)!r}")
    if stop not in reference:
        return
    if text != reference[:reference.index(stop)]:
        raise CheckFailed("the reply was not cut at the stop string",
                          f"{excerpt(reference[:reference.index(stop)])!r} (the reply without stop, up to {stop!r})",
                          f"{excerpt(text)!r}")
    if finish_reason != "stop" or stop_reason != stop:
        raise CheckFailed("a stop string match did not finish with reason 'stop'",
                          f"finish_reason 'stop', stop_reason {stop!r}",
                          f"finish_reason {finish_reason!r}, stop_reason {stop_reason!r}")


# -- class 3: usage ---------------------------------------------------------------------------------
def usage_true(usage: dict, prompt: list[int], reply: list[int], max_tokens: int | None,
               finish_reason: str | None, stop_reason=None, end_ids=frozenset()) -> None:
    """usage counts what was served: prompt_tokens the served prompt's tokens, completion_tokens the
    reply's, total their sum; the reply within max_tokens, and finish_reason "length" exactly when the
    cap cut it (a reply that reached the cap on an end token or a stop string was not cut)."""
    counts = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    shown = f"usage {counts}; {len(prompt)} prompt ids, {len(reply)} reply ids, finish_reason {finish_reason!r}"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
        raise CheckFailed("usage lacks a token count", "prompt_tokens, completion_tokens, total_tokens: integers",
                          shown)
    if counts["prompt_tokens"] != len(prompt):
        raise CheckFailed("usage.prompt_tokens is not the length of the served prompt",
                          f"prompt_tokens {len(prompt)}", shown)
    if counts["completion_tokens"] != len(reply):
        raise CheckFailed("usage.completion_tokens is not the number of reply tokens",
                          f"completion_tokens {len(reply)}", shown)
    if counts["total_tokens"] != counts["prompt_tokens"] + counts["completion_tokens"]:
        raise CheckFailed("usage.total_tokens is not prompt_tokens + completion_tokens",
                          f"total_tokens {counts['prompt_tokens'] + counts['completion_tokens']}", shown)
    if max_tokens is None:
        return
    if len(reply) > max_tokens:
        raise CheckFailed("the reply is longer than max_tokens", f"at most {max_tokens} reply tokens", shown)
    if finish_reason == "length" and len(reply) < max_tokens:
        raise CheckFailed("finish_reason 'length' before the cap was reached",
                          f"finish_reason 'length' only at {max_tokens} reply tokens", shown)
    ended = stop_reason is not None or (reply and reply[-1] in end_ids)
    if len(reply) == max_tokens and finish_reason != "length" and not ended:
        raise CheckFailed("the cap cut the reply without finish_reason 'length'",
                          f"finish_reason 'length' at {max_tokens} reply tokens (no end token, no stop string)",
                          shown)


def usage_equal(streamed: dict, whole: dict) -> None:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    a, b = ({k: u.get(k) for k in keys} for u in (streamed, whole))
    if a != b:
        raise CheckFailed("the streamed usage differs from the non-streaming usage", str(b), str(a))
