"""The numerics check fails, naming the first diverging position, when served logprobs drift."""
import pytest

from lfm_conformance.checks import CheckFailed, numerics

IDS = [1, 40, 41, 42]
RESPONSE = {"choices": [{"text": "x", "prompt_logprobs": [
    None, {"40": {"logprob": -2.0}}, {"41": {"logprob": -1.0}, "7": {"logprob": -0.5}}, {"42": {"logprob": -3.0}}]}]}


def test_extracts_logprob_of_each_actual_token():
    assert numerics.served_prompt_logprobs(RESPONSE, IDS) == [-2.0, -1.0, -3.0]


def test_missing_prompt_logprobs_fails():
    with pytest.raises(CheckFailed, match="no prompt logprobs"):
        numerics.served_prompt_logprobs({"choices": [{"text": "x"}]}, IDS)


def test_within_tolerance_passes():
    numerics.logprobs_match([-2.0, -1.0, -3.0], [-2.001, -1.0, -2.995], 0.01, ["a", "b", "c", "d"])


def test_divergence_fails_naming_position():
    with pytest.raises(CheckFailed, match="differ from the transformers reference") as info:
        numerics.logprobs_match([-2.0, -1.9, -3.0], [-2.0, -1.0, -3.0], 0.01, ["a", "b", "c", "d"])
    assert "first over tolerance at position 2" in str(info.value) and "0.900" in str(info.value)


@pytest.mark.parametrize("served", [[float("nan")] * 3, [float("nan"), -50.0, -1.0], [-1.0, float("-inf"), -3.0],
                                    [-1.0, -2.0, float("inf")]], ids=["all-nan", "one-nan", "-inf", "inf"])
def test_non_finite_logprobs_fail(served):
    with pytest.raises(CheckFailed, match="not a finite number"):
        numerics.logprobs_match(served, [-1.0, -2.0, -3.0], 0.01, ["a", "b", "c", "d"])


@pytest.mark.parametrize("served", [[-1.0, -2.0], [-1.0, -2.0, -3.0, -4.0], []], ids=["short", "long", "empty"])
def test_length_mismatch_fails(served):
    with pytest.raises(CheckFailed, match="different positions"):
        numerics.logprobs_match(served, [-1.0, -2.0, -3.0], 0.01, ["a", "b", "c", "d"])
