"""Conformance checks as plain functions over what the server returned: each raises CheckFailed
with expected (what the guide says), observed (what the server sent) and evidence, so it can be
unit-tested on recorded and hand-broken responses without a server."""
from __future__ import annotations

import json

EXCERPT_CHARS = 600


class CheckFailed(AssertionError):
    def __init__(self, problem: str, expected: str, observed: str, evidence: str | None = None):
        problem, expected, observed, evidence = (_encodable(v) for v in (problem, expected, observed, evidence))
        self.problem, self.expected, self.observed, self.evidence = problem, expected, observed, evidence
        lines = [problem, f"  expected: {expected}", f"  observed: {observed}"]
        if evidence:
            lines.append(f"  evidence: {evidence}")
        super().__init__("\n".join(lines))


def _encodable(value):
    """Text that can be written as UTF-8: a lone surrogate (which a broken parser can emit) becomes
    its escape, e.g. \\ud83d, instead of breaking the report (pytest-xdist, JUnit, results.json)."""
    if not isinstance(value, str):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"
