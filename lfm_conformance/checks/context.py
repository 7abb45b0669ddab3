"""Context caps: the server enforces the context it reports ("cap context" in the guide).

What keeps the promise, whatever the vLLM release: a prompt longer than max_model_len, or one that
leaves no room for output, is refused with HTTP 400 naming the limit; a request whose prompt fits
but whose max_tokens runs past the cap is either refused with a 4xx naming the limit (OpenAI's
behaviour, vLLM 0.23) or served with max_tokens clamped so prompt + output stays within the cap
(vLLM 0.32, vllm/entrypoints/serve/utils/api_utils.py `get_max_tokens`). A 5xx, a silent overrun
or a rejection that does not name the cap fails. Error texts are checked for facts (status, the
numbers, error.param), never vLLM's wording.
"""
from __future__ import annotations

import re

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.loading import model_listed
from lfm_conformance.checks.http import refused_as_client_error
from lfm_conformance.checks.http import server_healthy as healthy  # noqa: F401 (used by suites)


def cap_reported(models_response: dict, served_name: str, cap: int) -> None:
    """/v1/models reports the --max-model-len the server was started with."""
    model_listed(models_response, served_name, cap, source=f"--max-model-len {cap}",
                 problem="does not report the --max-model-len cap")


def prompt_accepted(status: int, body, prompt_tokens: int, max_model_len: int) -> None:
    """A prompt that fits (prompt tokens + max_tokens <= max_model_len) is served in full."""
    expected = f"HTTP 200 for {prompt_tokens} prompt tokens within max_model_len {max_model_len}"
    if status != 200:
        raise CheckFailed("a prompt that fits the context was not served", expected, f"HTTP {status}",
                          excerpt(body))
    usage = body.get("usage") or {}
    if usage.get("prompt_tokens") != prompt_tokens:
        raise CheckFailed("the server counted a different prompt than was sent",
                          f"usage.prompt_tokens {prompt_tokens}", f"usage {usage}", excerpt(body))
    total = usage.get("total_tokens")
    if not isinstance(total, int) or total > max_model_len:
        raise CheckFailed("the request ran past the context", f"usage.total_tokens <= {max_model_len}",
                          f"usage {usage}", excerpt(body))


def _numbers(message: str) -> set[str]:
    return set(re.findall(r"\d+", message))  # whole numbers only: 2048 is not found in 20480


def prompt_over_context_rejected(status: int, body, limit: int, prompt_tokens: int) -> None:
    """A prompt longer than max_model_len: HTTP 400 naming the context limit and the prompt size."""
    expected = (f"HTTP 400 whose error names the {limit}-token context limit and the {prompt_tokens}-token prompt "
                f"(vLLM 0.32: \"This model's maximum context length is {limit} tokens. However, your prompt "
                f"contains at least {prompt_tokens} input tokens ...\")")
    what = f"a prompt of {prompt_tokens} tokens over a {limit}-token context"
    message = refused_as_client_error(status, body, what, expected, required_status=400)
    if str(limit) not in _numbers(message):
        raise CheckFailed("the rejection does not name the context limit", expected, message, excerpt(body))
    if str(prompt_tokens) not in _numbers(message):
        raise CheckFailed("the rejection does not name the prompt size", expected, message, excerpt(body))


def no_room_for_output_rejected(status: int, body, limit: int) -> None:
    """A prompt of exactly max_model_len tokens leaves no room for one output token: HTTP 400."""
    expected = (f"HTTP 400: a {limit}-token prompt leaves 0 of max_model_len {limit} for output "
                f"(vLLM 0.32: \"max_tokens must be at least 1, got 0.\")")
    what = f"a prompt filling the whole {limit}-token context"
    refused_as_client_error(status, body, what, expected, required_status=400)


def max_tokens_clamped(status: int, body, prompt_tokens: int, max_model_len: int) -> None:
    """prompt + max_tokens over max_model_len: served with max_tokens clamped to what is left
    (the request sets ignore_eos, so the reply runs until the clamp)."""
    left = max_model_len - prompt_tokens
    expected = (f"HTTP 200, max_tokens clamped to max_model_len - prompt = {left}: "
                f"completion_tokens {left}, finish_reason 'length'")
    if status >= 500:
        raise CheckFailed("prompt + max_tokens over the context: server error", expected, f"HTTP {status}",
                          excerpt(body))
    if status != 200:
        raise CheckFailed("prompt + max_tokens over the context: rejected instead of clamped", expected,
                          f"HTTP {status}", excerpt(body))
    usage = body.get("usage") or {}
    choices = body.get("choices") or [{}]
    finish = choices[0].get("finish_reason")
    if usage.get("completion_tokens") != left or finish != "length":
        raise CheckFailed("max_tokens was not clamped to the context left", expected,
                          f"completion_tokens {usage.get('completion_tokens')!r}, finish_reason {finish!r}",
                          excerpt(body))
    if usage.get("total_tokens") != max_model_len:
        raise CheckFailed("the request did not end at the context limit", f"usage.total_tokens {max_model_len}",
                          f"usage {usage}", excerpt(body))


def request_past_cap_capped(status: int, body, prompt_tokens: int, max_model_len: int) -> None:
    """prompt + max_tokens over max_model_len (the prompt alone fits): the cap holds either way,
    refused with a 4xx naming the limit, or served with max_tokens clamped to what is left."""
    if status == 200:
        max_tokens_clamped(status, body, prompt_tokens, max_model_len)
        return
    expected = (f"a 4xx naming the {max_model_len}-token limit, or HTTP 200 with max_tokens clamped to "
                f"{max_model_len - prompt_tokens} (prompt + output within the cap)")
    message = refused_as_client_error(status, body, "prompt + max_tokens over the context", expected)
    if str(max_model_len) not in _numbers(message):
        raise CheckFailed("the rejection does not name the context limit", expected, message, excerpt(body))


def max_tokens_over_context_rejected(status: int, body, limit: int, max_tokens: int) -> None:
    """max_tokens alone above max_model_len: HTTP 400 whose error names max_tokens (in its message
    or as error.param), the number asked for and the context limit. The wording is vLLM's and
    changes between versions (0.32: "max_tokens=2049 cannot be greater than max_model_len=2048";
    0.23: "... max_model_len=max_total_tokens=2048 ..."), so only those three facts are checked."""
    expected = (f"HTTP 400 whose error names max_tokens, the {max_tokens} asked for and the {limit}-token "
                f"context limit (vLLM 0.32: \"max_tokens={max_tokens} cannot be greater than max_model_len={limit}\")")
    what = f"max_tokens {max_tokens} over a {limit}-token context"
    message = refused_as_client_error(status, body, what, expected, required_status=400)
    numbers = _numbers(message)
    named = {"max_tokens": "max_tokens" in message or body["error"].get("param") == "max_tokens",
             f"the requested {max_tokens}": str(max_tokens) in numbers,
             f"the limit {limit}": str(limit) in numbers}
    missing = [what for what, ok in named.items() if not ok]
    if missing:
        raise CheckFailed(f"the rejection does not name max_tokens and the context limit (no {', no '.join(missing)})",
                          expected, message, excerpt(body))


def cap_above_documented_refused(documented: int, requested: int, started: bool, served_max: int | None,
                                 evidence: str = "") -> None:
    """`--max-model-len` goes "up to" the documented context: a server asked for more either does
    not start, or serves at most the documented context; serving the larger cap breaks the promise."""
    if not started or (served_max is not None and served_max <= documented):
        return
    raise CheckFailed("a --max-model-len above the documented context was accepted",
                      f"the server refuses --max-model-len {requested} (documented context {documented}) "
                      f"or serves at most {documented}",
                      f"it started and serves max_model_len {served_max}", evidence)


def refusal_names_cap(log_text: str, asked: int, documented: int) -> bool:
    """Whether a server that did not start says why in numbers: a log line (not the suite's own
    command header, not vLLM's echo of its arguments) naming both the asked and the allowed context."""
    allowed = re.compile(rf"\b{documented}(\.0)?\b")
    return any(str(asked) in line and allowed.search(line) and "non-default args" not in line
               for line in log_text.splitlines() if not line.lstrip().startswith("#"))
