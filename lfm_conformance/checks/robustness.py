"""The endpoint under bad input: a malformed or hostile request gets an OpenAI-style client error
(HTTP 4xx with an error object), never a server error, and the server stays up.

OpenAI's error contract (and vLLM's ErrorResponse): {"error": {"message": str, "type": str,
"param": str|null, "code": str|int|null}}.
"""
from __future__ import annotations

import json

import jsonschema

from lfm_conformance.checks import CheckFailed, excerpt, http

ERROR_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"type": "string", "minLength": 1},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "integer", "null"]},
            },
        },
    },
}
EXPECTED_REFUSAL = 'HTTP 4xx with an OpenAI error object {"error": {"message", "type", ...}}'


def refused_as_client_error(request: str, status: int | None, body: str, transport_error: str | None = None) -> None:
    """`request` (a short description with an excerpt of what was sent) was refused as the
    client's fault: 4xx, JSON body, OpenAI error object."""
    evidence = f"request: {request}; response: {excerpt(body)}"
    if status is None:
        raise CheckFailed("no HTTP response to a malformed request (server crashed or hung up)",
                          EXPECTED_REFUSAL, transport_error or "connection closed", evidence)
    try:
        http.refused_with_client_status(status, body, "a malformed request", EXPECTED_REFUSAL)
        data = json.loads(body)
        jsonschema.validate(data, ERROR_OBJECT_SCHEMA)
    except CheckFailed as exc:
        raise CheckFailed(exc.problem, exc.expected, exc.observed, evidence) from None
    except ValueError:
        raise CheckFailed("the error body is not JSON", EXPECTED_REFUSAL, f"HTTP {status}, body {excerpt(body)}",
                          evidence) from None
    except jsonschema.ValidationError as exc:
        where = ".".join(map(str, exc.absolute_path)) or "(top level)"
        raise CheckFailed("the error body is not an OpenAI error object", EXPECTED_REFUSAL,
                          f"HTTP {status}, {where}: {exc.message}", evidence) from None


def accepted(request: str, status: int | None, body: str, why: str) -> None:
    """A request the contract allows (`why`) is served: HTTP 200 with choices."""
    expected = f"HTTP 200 with choices ({why})"
    evidence = f"request: {request}; response: {excerpt(body)}"
    if status is None or status >= 500:
        raise CheckFailed("server error for a valid request", expected, f"HTTP {status}", evidence)
    if status != 200:
        raise CheckFailed("valid request refused", expected, f"HTTP {status}", evidence)
    try:
        choices = json.loads(body).get("choices")
    except (ValueError, AttributeError):
        choices = None
    if not choices:
        raise CheckFailed("HTTP 200 without choices", expected, excerpt(body), evidence)


def server_survived(health: int | None, after: str) -> None:
    """GET /health answers 200 after `after`; None means the server did not answer at all."""
    if health is None:
        raise CheckFailed(f"the server died after {after}", "GET /health 200", "no answer (connection refused)")
    http.server_healthy(health, after)


def hang_ups_served(outcomes: list, clients: int, read_events: int) -> None:
    """Every streaming client got HTTP 200 and its first `read_events` events before hanging up."""
    bad = [(i, o) for i, o in enumerate(outcomes) if o.status != 200 or o.chunks < read_events]
    if bad:
        detail = "; ".join(f"client {i}: HTTP {o.status}, {o.chunks} events, {excerpt(o.error or '', 200)}"
                           for i, o in bad[:4])
        raise CheckFailed(f"{len(bad)} of {clients} concurrent streams failed before their clients hung up",
                          f"HTTP 200 and >= {read_events} SSE events on each of {clients} streams", detail)


def answer_after_load(observed: str, taught: str, after: str) -> None:
    """After the load, a normal request still gets the reply the model gives at rest."""
    if observed != taught:
        raise CheckFailed(f"wrong answer to a normal request after {after}", repr(taught), repr(observed))
