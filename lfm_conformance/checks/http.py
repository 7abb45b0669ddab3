"""What every suite checks about HTTP exchanges: refusals as the client's fault, error bodies and
the server's health after them."""
from __future__ import annotations

import json

from lfm_conformance.checks import CheckFailed, excerpt


def error_message(body) -> str:
    """The error text of a vLLM/OpenAI error body ({"error": {"message"}} or {"message"}), for display."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):
            return error
        detail = body.get("message") or body.get("detail") or ""
        return detail if isinstance(detail, str) else json.dumps(detail)
    return "" if body is None else (body if isinstance(body, str) else json.dumps(body))


def _openai_error_message(body) -> str:
    """error.message of an OpenAI error object (what the openai SDK shows the user); "" if absent."""
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def refused_with_client_status(status: int, body, what: str, expected: str, *,
                               required_status: int | None = None) -> None:
    """`what` (the bad request, in words) got a client-error status: HTTP 4xx (exactly
    `required_status` where the guide names one), never an answer nor a 5xx."""
    if 200 <= status < 300:
        raise CheckFailed(f"{what}: accepted instead of refused", expected, f"HTTP {status}", excerpt(body))
    if status >= 500:
        raise CheckFailed(f"{what}: server error where a client error is due", expected,
                          f"HTTP {status}: {excerpt(error_message(body))}", excerpt(body))
    if not 400 <= status < 500:
        raise CheckFailed(f"{what}: not a client error", expected, f"HTTP {status}", excerpt(body))
    if required_status is not None and status != required_status:
        raise CheckFailed(f"{what}: refused with HTTP {status}, not {required_status}", expected,
                          f"HTTP {status}: {excerpt(error_message(body))}", excerpt(body))


def refused_as_client_error(status: int, body, what: str, expected: str, *, required_status: int | None = None) -> str:
    """`what` was refused as the client's fault (`refused_with_client_status`) with an OpenAI error
    object carrying a message. Returns that message; CheckFailed naming the problem otherwise."""
    refused_with_client_status(status, body, what, expected, required_status=required_status)
    message = _openai_error_message(body)
    if not message.strip():
        raise CheckFailed(f"{what}: the rejection carries no error message", expected,
                          f"HTTP {status} without error.message", excerpt(body))
    return message


def server_healthy(status: int, after: str) -> None:
    """GET /health answers 200 after a request the server refused."""
    if status != 200:
        raise CheckFailed(f"the server is unhealthy after {after}", "GET /health 200", f"HTTP {status}")
