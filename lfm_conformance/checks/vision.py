"""VL image input: image + text chat turns answer, and the per-prompt image limit is enforced.
Guide: "The VL models accept image + text turns through the standard chat API"; "Allow more than
one image per request with --limit-mm-per-prompt '{"image": 4}'" (Max images per request)."""
from __future__ import annotations

import json
import re

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.http import error_message, refused_as_client_error, server_healthy  # noqa: F401 (used by suites)

LIMIT_FLAG = "--limit-mm-per-prompt"


def image_limit(serve_flags) -> int | None:
    """The image limit the serve flags set (--limit-mm-per-prompt '{"image": N}'), None if unset."""
    flags = list(serve_flags)
    for i, flag in enumerate(flags):
        if flag == LIMIT_FLAG and i + 1 < len(flags):
            value = flags[i + 1]
        elif flag.startswith(LIMIT_FLAG + "="):
            value = flag.split("=", 1)[1]
        else:
            continue
        limit = json.loads(value).get("image")
        return limit if isinstance(limit, int) else (limit or {}).get("count")
    return None


def image_reply_ok(response: dict) -> None:
    """A chat completion answering an image turn: one choice with non-empty text content."""
    choices = response.get("choices") or []
    if not choices:
        raise CheckFailed("the image turn got no choices", "one choice with a text answer", "no choices",
                          excerpt(response))
    message = choices[0].get("message") or {}
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise CheckFailed("the image turn got an empty answer", "non-empty text content",
                          f"content {content!r}, finish_reason {choices[0].get('finish_reason')!r}",
                          excerpt(response))


def accepted(status: int, body) -> None:
    """HTTP 200 and a text answer."""
    if status != 200:
        raise CheckFailed(f"the image request was refused with HTTP {status}", "HTTP 200 with a text answer",
                          f"HTTP {status}: {excerpt(error_message(body))}", excerpt(body))
    image_reply_ok(body)


def rejected_client_error(status: int, body) -> None:
    """A request the server cannot serve is refused with a 4xx carrying an error message, never a 5xx."""
    refused_as_client_error(status, body, "a bad image request", "HTTP 4xx naming the problem")


def _names_limit(message: str, limit: int | None) -> bool:
    if "image" not in message.lower():
        return False
    if limit is None:
        return bool(re.search(r"\b(at most|limit|maximum|max)\b", message, re.I))
    return bool(re.search(rf"(?<!\d){limit}(?!\d)", message))


def rejected_with_limit(status: int, body, limit: int) -> None:
    """Over the documented limit: HTTP 400 whose message names the image limit."""
    expected = f"HTTP 400 naming the limit of {limit} image(s)"
    message = refused_as_client_error(status, body, f"more than {limit} image(s)", expected, required_status=400)
    if not _names_limit(message, limit):
        raise CheckFailed("the rejection does not name the image limit", expected, excerpt(message), excerpt(body))


def limit_probe_ok(status: int, body) -> None:
    """One step of measuring the limit: accepted (200 with an answer) or a 4xx naming a limit."""
    if status == 200:
        image_reply_ok(body)
        return
    rejected_client_error(status, body)
    if not _names_limit(error_message(body), None):
        raise CheckFailed("an image request was refused without naming a limit",
                          "HTTP 200, or a 4xx naming the image limit", excerpt(error_message(body)),
                          excerpt(body))


def largest_accepted(outcomes: dict[int, int]) -> int:
    """The largest image count answered with 200 ({count: status}); 0 if none."""
    return max((count for count, status in outcomes.items() if status == 200), default=0)


