"""What a test's outcome means for the verdict, beyond pass/fail/skip:
- a failure is the thing under test breaking a promise (a check's CheckFailed or assertion, an error
  answer of the server through the openai SDK) or the suite's own error (any other exception:
  the suite could not check);
- a known deviation's test that fails *differently* from the deviation's signature is a plain failure;
- a test that records figures and gates nothing is MEASURED, not PASS."""
from __future__ import annotations

import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.report.grid import FAILURE_PROPERTY, OUTCOME_PROPERTY

DEVIATION = pytest.StashKey[object]()  # the known deviation (data.deviations.Deviation) a test carries


class DeviationMismatch(AssertionError):
    """A test carrying a known deviation failed, but not as the deviation's signature says: a new
    failure, reported plainly with both the recorded deviation and what was observed now."""

    def __init__(self, deviation, failure: CheckFailed, mismatches: list[str]):
        self.deviation, self.failure = deviation, failure
        super().__init__(
            f"{failure.problem} (differs from known deviation {deviation.id})\n"
            f"  expected: {failure.expected}\n  observed: {failure.observed}\n"
            + (f"  evidence: {failure.evidence}\n" if failure.evidence else "")
            + f"  known deviation {deviation.id} (vLLM {deviation.vllm}) covers only failures with "
            f"{deviation.signature_text()}; not matched: {', '.join(mismatches)}\n"
            f"  recorded observation: {deviation.observed}")


def measured(node) -> None:
    """Mark the running test as MEASURED: it recorded figures and gated nothing."""
    node.user_properties.append((OUTCOME_PROPERTY, "measured"))


def failure_kind(exc: BaseException) -> str:
    """"check" when the thing under test broke a promise, "suite" for the suite's own error."""
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return "check"
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency of the suite
        return "suite"
    return "check" if isinstance(exc, openai.APIError) else "suite"


def against_signature(item, exc: CheckFailed) -> None:
    """Raise DeviationMismatch when the test carries a known deviation that this failure is not."""
    deviation = item.stash.get(DEVIATION, None)
    if deviation is not None and (mismatches := deviation.mismatches(exc)):
        raise DeviationMismatch(deviation, exc, mismatches) from exc
