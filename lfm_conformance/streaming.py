"""Collect a streamed chat completion as the raw chunk dicts the server sent."""
from __future__ import annotations

from lfm_conformance.checks.tool_calls import reassemble


def stream_chat(client, **kwargs) -> dict:
    chunks = [chunk.model_dump() for chunk in client.chat.completions.create(stream=True, **kwargs)]
    return reassemble(chunks)
