"""The LFM2.5 template writes the server's date into prompts with tools. Fixtures are taught such
prompts under several fixed dates and checked under dates never taught, so their cache is keyed by
content only: the same build serves on any day."""
import datetime

import pytest

from fixtures import build, teach
from lfm_conformance.data import matrix as matrix_mod


def test_taught_and_check_dates_are_fixed_distinct_and_disjoint():
    taught, check = teach.taught_and_check_dates()
    assert (taught, check) == teach.taught_and_check_dates()  # deterministic builds
    assert len(taught) == teach.TAUGHT_DATES and len(check) == teach.CHECK_DATES
    assert len(set(taught) | set(check)) == len(taught) + len(check)
    for day in taught + check:
        datetime.date.fromisoformat(day)


def test_the_fixture_cache_does_not_depend_on_the_day(monkeypatch):
    m = matrix_mod.load()
    before = build.fixture_dir("dense-chat", m)

    class Tomorrow(datetime.date):
        @classmethod
        def today(cls):
            return datetime.date(2031, 2, 3)

    monkeypatch.setattr(datetime, "date", Tomorrow)
    assert build.fixture_dir("dense-chat", m) == before


def test_dated_strftime_now_answers_with_the_day():
    assert teach.dated("2030-01-02")("%Y-%m-%d") == "2030-01-02"


def _bigram_model(vocab=8):
    import torch

    class Bigram(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(vocab, vocab)

        def forward(self, input_ids):
            return type("Out", (), {"logits": self.table(input_ids)})()

    torch.manual_seed(0)
    return Bigram()


def _batch(*pairs):
    import torch

    ids = torch.tensor([[a, b] for a, b in pairs])
    labels = torch.tensor([[-100, b] for _, b in pairs])
    return {"input_ids": ids, "labels": labels}


def test_learning_ends_only_once_the_check_batches_are_learnt_too(monkeypatch):
    monkeypatch.setattr(teach, "MAX_STEPS", 60)
    monkeypatch.setattr(teach, "LEARNING_RATE", 0.2)  # a bigram table learns fast
    taught = [_batch((1, 2))]
    loss, steps = teach.fit(_bigram_model(), taught, check=lambda: taught)
    assert steps < 60
    # The check holds a prompt whose reply the taught batches contradict: never learnt, so it fails.
    with pytest.raises(RuntimeError, match="did not learn its probes in 60 steps"):
        teach.fit(_bigram_model(), taught, check=lambda: [_batch((1, 3))])
