"""Streaming equals non-streaming: for every chat probe the suites send and every model that can
take it, the chunks of a greedy streamed request add up to the non-streaming response of the same
request, field by field (content, reasoning, tool calls, finish_reason stop / length / tool_calls)
and nothing extra. Guide: an OpenAI-compatible API; the parsers serve streaming clients too."""
import pytest

from lfm_conformance.checks import streaming
from lfm_conformance.data import probes
from lfm_conformance.harness.streaming import token_level_chunks

PROBES = probes.chat_probes()
# tool_choice probes: their constraint is checked by suites/test_tool_calls.py (the request differs)
CONSTRAINED = ("weather_required", "weather_named")
BOUND = 128  # a greedy reply the stand-ins were not taught still ends here (finish_reason length)


def _greedy(model, probe_id: str, max_tokens: int) -> dict:
    return dict(model=model.hf_id, **probes.chat(probe_id), seed=0,
                **probes.sampling(model.preset, temperature=0, max_tokens=max_tokens))


def _compare(server, model, probe_id: str, max_tokens: int = BOUND) -> None:
    needs = PROBES[probe_id]
    if not model.has(needs):
        pytest.skip(f"not applicable: probe {probe_id} needs {needs}; {model.name} has {list(model.capabilities)}")
    kwargs = _greedy(model, probe_id, max_tokens)
    client = server.client(timeout=300)
    whole = client.chat.completions.create(**kwargs).model_dump(exclude_unset=True)
    streaming.stream_equals_response(token_level_chunks(client, **kwargs), whole)


@pytest.mark.parametrize("probe_id", [p for p in PROBES if p not in CONSTRAINED])
def test_stream_equals_non_streaming(model, server, probe_id):
    _compare(server, model, probe_id)


def test_stream_cut_by_max_tokens_equals_non_streaming(model, server):
    """finish_reason length, streamed and not, at the same token."""
    _compare(server, model, "hello", max_tokens=3)
