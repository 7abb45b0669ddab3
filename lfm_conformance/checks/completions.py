"""Base model completions: /v1/completions and its OpenAI options, and chat refused for want of a
chat template. Guide: "LFM2.5-1.2B-Base is not instruction-tuned and has no chat template — use the
completions endpoint" (preset temperature 0.3, min_p 0.15, repetition_penalty 1.05)."""
from __future__ import annotations

import json
import math
import re

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.http import refused_as_client_error, server_healthy  # noqa: F401 (server_healthy: used by suites)

BYTES_TOKEN = "bytes:"  # vLLM's spelling of a token that is not valid UTF-8 on its own
END_TOKEN = re.compile(r"<\|[^|<>]+\|>|</s>")  # a special end-of-sequence token, e.g. <|im_end|>


def _choices(response: dict) -> list[dict]:
    choices = response.get("choices") or []
    if not choices:
        raise CheckFailed("the completion has no choices", "at least one choice", "none", excerpt(response))
    return choices


def completion_has_text(response: dict) -> str:
    """One choice with non-empty text; returns the text."""
    choice = _choices(response)[0]
    text = choice.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CheckFailed("the completion text is empty", "non-empty text",
                          f"text {text!r}, finish_reason {choice.get('finish_reason')!r}", excerpt(response))
    return text


def echoed(response: dict, prompt: str) -> None:
    """echo=True: the text is the prompt followed by a non-empty continuation."""
    text = _choices(response)[0].get("text") or ""
    if not text.startswith(prompt):
        raise CheckFailed("echo=True did not return the prompt first", f"text starting with {prompt!r}",
                          f"text {excerpt(text)!r}")
    if not text[len(prompt):].strip():
        raise CheckFailed("echo=True returned the prompt with no continuation",
                          "the prompt followed by generated text", f"text {excerpt(text)!r}")


def logprobs_aligned(response: dict, top: int) -> None:
    """logprobs=top: one entry per generated token, tokens spell the text at their offsets, each
    logprob a number <= 0, `top` alternatives (plus the sampled token where it is not among them).
    vLLM also reports the end-of-sequence token that ended the text (finish_reason "stop"): it has a
    logprob but no text, so a final special token past the end of the text is allowed."""
    choice = _choices(response)[0]
    text = choice.get("text") or ""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        raise CheckFailed("logprobs were requested but not returned", "a logprobs object",
                          repr(logprobs), excerpt(choice))
    fields = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    lengths = {f: len(logprobs.get(f) or []) for f in fields}
    if len(set(lengths.values())) != 1 or lengths["tokens"] == 0:
        raise CheckFailed("logprobs arrays are missing or of different lengths",
                          "tokens, token_logprobs, top_logprobs, text_offset: one entry per generated token",
                          json.dumps(lengths), excerpt(logprobs))
    tokens, values, tops, offsets = (logprobs[f] for f in fields)
    spelled = not any(t.startswith(BYTES_TOKEN) for t in tokens)  # byte tokens have no text span
    position = offsets[0]
    for i, (token, value, alternatives, offset) in enumerate(zip(tokens, values, tops, offsets)):
        if spelled and offset != position:
            raise CheckFailed(f"token {i} is not at its place in the text", f"text_offset {position}",
                              f"text_offset {offset} for token {token!r}", excerpt(logprobs))
        position += len(token)
        if not isinstance(value, (int, float)) or math.isnan(value) or value > 1e-6:
            raise CheckFailed(f"token {i} has an invalid logprob", "a number <= 0", repr(value), excerpt(logprobs))
        if not isinstance(alternatives, dict) or not top <= len(alternatives) <= top + 1:
            raise CheckFailed(f"token {i} has the wrong number of top logprobs",
                              f"{top} alternatives (or {top + 1} with the sampled token)",
                              excerpt(alternatives), excerpt(logprobs))
    if (choice.get("finish_reason") == "stop" and END_TOKEN.fullmatch(tokens[-1])
            and offsets[-1] - offsets[0] == len(text)):
        tokens = tokens[:-1]
    if spelled and "".join(tokens) != text:
        raise CheckFailed("logprob tokens do not spell the text", f"tokens joining to {excerpt(text)!r}",
                          f"{excerpt(''.join(tokens))!r}", excerpt(logprobs))


def n_choices(response: dict, n: int) -> None:
    """n=n: exactly n choices, indexed 0..n-1, each with non-empty text."""
    choices = _choices(response)
    indices = sorted(c.get("index") for c in choices)
    if indices != list(range(n)):
        raise CheckFailed(f"n={n} returned {len(choices)} choice(s)", f"choices indexed {list(range(n))}",
                          f"indices {indices}", excerpt(response))
    empty = [c.get("index") for c in choices if not (c.get("text") or "").strip()]
    if empty:
        raise CheckFailed(f"choice(s) {empty} have empty text", "text in every choice",
                          f"empty text in choice(s) {empty}", excerpt(response))


def stopped_at(response: dict, stop: str, reference: str) -> None:
    """stop=[stop]: the text is the unstopped (greedy) reference cut just before the first stop
    string, and finish_reason is "stop"."""
    choice = _choices(response)[0]
    text = choice.get("text") or ""
    if stop in text:
        raise CheckFailed(f"the stop string {stop!r} is in the text", f"text cut before {stop!r}",
                          f"text {excerpt(text)!r}")
    if stop in reference and text != reference[:reference.index(stop)]:
        raise CheckFailed("the text was not cut at the stop string",
                          f"{excerpt(reference[:reference.index(stop)])!r} (the greedy text up to {stop!r})",
                          f"{excerpt(text)!r}")
    if choice.get("finish_reason") != "stop":
        raise CheckFailed("a stop string match did not finish with reason 'stop'", "finish_reason 'stop'",
                          f"finish_reason {choice.get('finish_reason')!r}", excerpt(choice))


def stream_matches(chunks: list[dict], response: dict) -> None:
    """Streamed text deltas concatenate to the non-streaming text; same finish_reason."""
    choice = _choices(response)[0]
    streamed = "".join((c.get("choices") or [{}])[0].get("text") or "" for c in chunks if c.get("choices"))
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
    finish = next((f for f in reversed(finishes) if f), None)
    if streamed != (choice.get("text") or ""):
        raise CheckFailed("streamed deltas do not add up to the non-streaming text",
                          f"{excerpt(choice.get('text') or '')!r}", f"{excerpt(streamed)!r}",
                          f"{len(chunks)} chunks")
    if finish != choice.get("finish_reason"):
        raise CheckFailed("the stream finished for a different reason",
                          f"finish_reason {choice.get('finish_reason')!r}",
                          f"finish_reason {finish!r}")


def chat_refused_without_template(status: int, body) -> None:
    """A chat request to a model with no chat template: refused as a client error (4xx with an
    OpenAI error object), never answered, never a 5xx. The request is valid in every other way, so
    the refusal is the missing template's; its wording is vLLM's and is not checked."""
    refused_as_client_error(status, body, "a chat request to the Base model (no chat template)",
                            "HTTP 4xx with an error message: the model has no chat template")
