"""Conformance checks as plain functions over what the server returned: each raises CheckFailed
with expected (what the guide says), observed (what the server sent) and evidence, so it can be
unit-tested on recorded and hand-broken responses without a server."""
from __future__ import annotations

import json

EXCERPT_CHARS = 600


class CheckFailed(AssertionError):
    def __init__(self, problem: str, expected: str, observed: str, evidence: str | None = None):
        self.problem, self.expected, self.observed, self.evidence = problem, expected, observed, evidence
        lines = [problem, f"  expected: {expected}", f"  observed: {observed}"]
        if evidence:
            lines.append(f"  evidence: {evidence}")
        super().__init__("\n".join(lines))


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"
