"""Chat-template check passes on equal prompts and fails, naming the position, on different ones."""
import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks.chat_template import prompt_tokens_equal

REFERENCE = [1, 6, 40, 41, 42, 7, 10, 6, 50]


def test_equal_prompts_pass():
    prompt_tokens_equal(list(REFERENCE), REFERENCE)


@pytest.mark.parametrize("served, at", [
    ([1, 6, 40, 41, 43, 7, 10, 6, 50], 4),  # one token differs
    ([6, 40, 41, 42, 7, 10, 6, 50], 0),  # bos missing
    (REFERENCE[:-1], 8),  # generation prompt cut short
    (REFERENCE + [51], 9),  # extra token
])
def test_different_prompts_fail(served, at):
    with pytest.raises(CheckFailed, match=f"differs from the chat template's rendering at token {at}"):
        prompt_tokens_equal(served, REFERENCE, decode=lambda ids: " ".join(map(str, ids)))
