"""What every suite checks about HTTP exchanges: error bodies and the server's health after them."""
from __future__ import annotations

import json

from lfm_conformance.checks import CheckFailed


def error_message(body) -> str:
    """The error text of a vLLM/OpenAI error body ({"error": {"message"}} or {"message"})."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):
            return error
        detail = body.get("message") or body.get("detail") or ""
        return detail if isinstance(detail, str) else json.dumps(detail)
    return "" if body is None else (body if isinstance(body, str) else json.dumps(body))


def server_healthy(status: int, after: str) -> None:
    """GET /health answers 200 after a request the server refused."""
    if status != 200:
        raise CheckFailed(f"the server is unhealthy after {after}", "GET /health 200", f"HTTP {status}")
