"""Whether a served stream exercised a recorded finding: its input class (parser_findings.INPUT_CLASSES)
asked about the model output with the chunking the server really streamed. A finding whose mechanism
needs a delta to end at a given place (48.|8566) is not exercised when the server merged those
tokens into one delta (it does under load): the check then has nothing to say (NOT RUN), neither
DEV nor XPASS. The chunking is read from the stream's per-token logprobs, asked together with vLLM's
`return_token_ids` (harness/streaming.with_step_metadata): with both, vLLM 0.26+ sends a chunk for
every engine step, also one whose text the parser holds back."""
from __future__ import annotations

from dataclasses import dataclass

from lfm_conformance.parsers import generated_outputs as gen
from lfm_conformance.parsers import parser_findings as findings
from lfm_conformance.parsers.read_outputs import tool_output


@dataclass(frozen=True)
class Trigger:
    reached: bool
    seen: str  # what the stream showed, in words (the NOT RUN reason's evidence)


def streamed_pieces(chunks: list[dict]) -> list[str] | None:
    """The text each engine step handed the parser, one entry per streamed chunk that carried
    tokens (from the chunk's logprobs); None when the stream carried no logprobs."""
    pieces, any_logprobs = [], False
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            content = (choice.get("logprobs") or {}).get("content")
            if content is None:
                continue
            any_logprobs = True
            text = "".join(entry.get("token") or "" for entry in content)
            if text:
                pieces.append(text)
    return pieces if any_logprobs else None


def _boundaries(text: str, pieces: list[str]) -> frozenset[int] | None:
    """Delta boundaries inside `text` (the model output the pieces start with), None when the
    pieces do not spell it (the stream's tokens are not the taught output)."""
    if not "".join(pieces).startswith(text):
        return None
    return frozenset(b for b in gen.boundaries(pieces) if 0 < b < len(text))


def served(finding_id: str, text: str, pieces: list[str] | None) -> Trigger:
    """Whether the stream whose engine steps are `pieces` exercised finding `finding_id` on the
    model output `text`: its input class applies to the text with the stream's delta boundaries."""
    if pieces is None:
        return Trigger(False, "the stream carried no per-token logprobs: its chunking is unknown")
    shown = repr(pieces[:60]) + (f" (+{len(pieces) - 60} more)" if len(pieces) > 60 else "")
    cuts = _boundaries(text, pieces)
    if cuts is None:
        return Trigger(False, f"the streamed tokens do not spell the taught output {text!r}: {shown}")
    output = tool_output(text)
    if output is None:
        return Trigger(False, f"the model output cannot be read as one call block: {text!r}")
    witness = findings.INPUT_CLASSES[finding_id].applies(findings.Example(output, cuts))
    if witness is None:
        return Trigger(False, f"the deltas did not cut the output where finding {finding_id} needs: {shown}")
    return Trigger(True, f"finding {finding_id} exercised on {witness!r}; deltas {shown}")
