"""Architecture loading: the server starts with the documented flags and serves the model."""
from __future__ import annotations

import re

from lfm_conformance.checks import CheckFailed, excerpt

RESOLVED_ARCH = re.compile(r"Resolved architecture: (\w+)")


RAISED = re.compile(r"^(?:\S+ )*?(\w+(?:\.\w+)*(?:Error|Exception)\b: .+)$", re.M)  # "(EngineCore pid=9) RuntimeError: ..."


def server_started(start_error, architecture: str) -> None:
    """The server became healthy with the documented flags. A server process that exited during
    start-up (vLLM gave up) fails, naming the exceptions its log shows in order (the root cause
    first); anything else that kept it from starting (no port, not healthy in time) is not a verdict
    on vLLM and is re-raised."""
    if start_error is None:
        return
    if getattr(start_error, "exit_code", None) is None:
        raise start_error
    raised = list(dict.fromkeys(line.strip() for line in RAISED.findall(getattr(start_error, "log", "") or str(start_error))))
    observed = "; ".join(raised[:3]) if raised else "no exception line in the server log"
    raise CheckFailed(f"the {architecture} server exited during start-up with the documented flags",
                      f"a healthy server serving {architecture}",
                      f"exit code {start_error.exit_code}: {observed}", excerpt(str(start_error)[-3000:]))


def listed_entry(models_response: dict, served_name: str) -> dict:
    """The /v1/models entry of the served name."""
    entries = {m.get("id"): m for m in models_response.get("data", [])}
    if served_name not in entries:
        raise CheckFailed(f"/v1/models does not list {served_name}", f"an entry with id {served_name!r}",
                          f"ids {sorted(map(str, entries))}", excerpt(models_response))
    return entries[served_name]


def model_listed(models_response: dict, served_name: str, max_model_len: int,
                 source: str = "documented context", problem: str = "reports the wrong max_model_len") -> None:
    """/v1/models lists the served name with max_model_len (the documented context by default)."""
    entry = listed_entry(models_response, served_name)
    observed = entry.get("max_model_len")
    if observed != max_model_len:
        raise CheckFailed(f"/v1/models {problem} for {served_name}", f"max_model_len {max_model_len} ({source})",
                          f"max_model_len {observed!r}", excerpt(entry))


def architecture_resolved(server_log: str, expected: str) -> None:
    """vLLM resolved the architecture the matrix names (from its startup log)."""
    found = RESOLVED_ARCH.findall(server_log)
    if not found:
        raise CheckFailed("the server log does not say which architecture vLLM resolved",
                          f"a 'Resolved architecture: {expected}' line", "no such line",
                          excerpt(server_log[-2000:]))
    if found[-1] != expected:
        raise CheckFailed("vLLM resolved a different architecture", expected, found[-1])


def reply_has_text(response: dict, endpoint: str) -> None:
    """A chat or completion response with one choice carrying non-empty text."""
    choices = response.get("choices") or []
    if not choices:
        raise CheckFailed(f"{endpoint} returned no choices", "one choice with text", "no choices", excerpt(response))
    choice = choices[0]
    if endpoint == "chat":
        message = choice.get("message") or {}
        text = message.get("content") or message.get("reasoning") or message.get("reasoning_content") or ""
        if not text and message.get("tool_calls"):
            text = "tool_calls"
    else:
        text = choice.get("text") or ""
    if not text.strip():
        raise CheckFailed(f"{endpoint} reply is empty", "non-empty text", repr(text), excerpt(response))
