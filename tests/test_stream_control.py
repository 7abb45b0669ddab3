"""A stream the suites judge came one token per engine step (harness/streaming.py): a stream whose
deltas merged tokens (as under load) is asked again, up to TRIES times, then the check is NOT RUN
with what each try showed; never judged, so never PASS or FAIL by chance of the chunking."""
import pytest

from lfm_conformance.harness import streaming


class _Chunk(dict):
    def model_dump(self, exclude_unset=False):
        return dict(self)


class _Client:
    """An openai-shaped client that answers each streamed request with the next recorded stream."""

    def __init__(self, streams):
        self.streams, self.asked = iter(streams), []
        self.chat = self.completions = self

    def create(self, stream=False, **kwargs):
        self.asked.append(kwargs)
        return [_Chunk(c) for c in next(self.streams)]


def _stream(*deltas: tuple[str, int]) -> list[dict]:
    """Chunks with content `text` and `n` tokens' logprobs each."""
    return [{"choices": [{"index": 0, "delta": {"content": text},
                          "logprobs": {"content": [{"token": "t", "logprob": 0.0}] * n}}]} for text, n in deltas]


ONE_BY_ONE = _stream(("He", 1), ("llo", 1))
MERGED = _stream(("Hello", 2))


def test_one_token_per_step_is_judged_with_logprobs_asked():
    client = _Client([ONE_BY_ONE])
    assert streaming.stream_chat(client, model="m")["choices"][0]["message"]["content"] == "Hello"
    assert client.asked[0]["logprobs"] is True and client.asked[0]["extra_body"] == {"return_token_ids": True}


def test_token_ids_count_where_given():
    """vLLM's token ids per chunk (sent also where a parser holds the text back) count first."""
    chunks = [{"choices": [{"index": 0, "delta": {}, "token_ids": [1, 2], "logprobs": {"content": [{}]}}]}]
    assert streaming.tokens_per_chunk(chunks) == [2]
    assert "1 of 1 deltas carried several tokens" in streaming.merged_steps(chunks)


def test_merged_then_clean_uses_the_clean_stream():
    client = _Client([MERGED, ONE_BY_ONE])
    assert streaming.stream_token_by_token(client, model="m") == ONE_BY_ONE
    assert len(client.asked) == 2


def test_merged_every_time_is_not_run_naming_what_was_seen():
    client = _Client([MERGED] * streaming.TRIES)
    with pytest.raises(pytest.skip.Exception, match=r"^not run: no stream came one token per delta in 3 tries.*"
                                                    r"1 of 1 deltas carried several tokens \(up to 2\)"):
        streaming.stream_chat(client, model="m")
    assert len(client.asked) == streaming.TRIES


def test_a_stream_without_logprobs_is_not_judged():
    no_logprobs = [{"choices": [{"index": 0, "delta": {"content": "Hello"}}]}]
    with pytest.raises(pytest.skip.Exception, match="no per-token logprobs or token ids"):
        streaming.stream_chat(_Client([no_logprobs] * 3), model="m")


def test_chunks_without_tokens_do_not_count():
    """The role chunk and an empty finish chunk carry no token: not a merge."""
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None}]}, *ONE_BY_ONE,
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": {"content": []}}]}]
    assert streaming.merged_steps(chunks) is None
