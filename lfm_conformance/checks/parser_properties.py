"""Parser properties: what a client must receive for a model output, whatever its chunking.
Guide: "The built-in lfm2 tool parser converts these into standard OpenAI tool_calls"; "Launch with
the qwen3 reasoning parser to split it into a separate reasoning_content field". A streamed
response carries the same information as the non-streaming one (the OpenAI streaming contract)."""
from __future__ import annotations

import json
from collections.abc import Callable

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.parsers import parser_findings as findings
from lfm_conformance.parsers.generated_outputs import CALL_END, CALL_START, THINK_END, THINK_START, canonical

MARKERS = (CALL_START, CALL_END)


def _evidence(model_output: str, chunks: list[str] | None) -> str:
    text = f"model output {model_output!r}"
    return text + (f"; delta texts {chunks!r}" if chunks is not None else "")


def calls_equal_generated(calls: list[dict], expected: list[dict], model_output: str) -> None:
    """Non-streaming: the parsed calls are the generated ones (names, arguments as JSON, order)."""
    observed = []
    for call in calls:
        try:
            observed.append({"name": call["name"], "arguments": json.loads(call["arguments"])})
        except (TypeError, ValueError) as exc:
            raise CheckFailed(f"arguments of {call['name']} are not valid JSON", "a JSON object",
                              f"{excerpt(call['arguments'])!r} ({exc})", _evidence(model_output, None)) from None
    if [canonical(c) for c in observed] != [canonical(c) for c in expected]:
        problem = "tool calls were not parsed" if not observed else "parsed tool calls differ from the model's calls"
        raise CheckFailed(problem, excerpt(expected), excerpt(observed), _evidence(model_output, None))


def streamed_calls_equal_non_streaming(streamed, whole_calls: list[dict], model_output: str, chunks: list[str]) -> None:
    """Streaming: indices 0..n-1, one id and one name per call, the concatenated argument deltas
    valid JSON equal to the non-streaming arguments."""
    evidence = _evidence(model_output, chunks)
    indices = [c.index for c in streamed]
    if indices != list(range(len(streamed))):
        raise CheckFailed("streamed tool-call indices are not 0..n-1", f"indices {list(range(len(streamed)))}",
                          f"indices {indices}", evidence)
    if len(streamed) != len(whole_calls):
        raise CheckFailed("streaming yields a different number of tool calls than non-streaming",
                          f"{len(whole_calls)} calls: {excerpt(whole_calls)}",
                          f"{len(streamed)} calls: {excerpt([(c.names, c.arguments) for c in streamed])}", evidence)
    for call, whole in zip(streamed, whole_calls):
        if len(call.ids) != 1 or len(call.names) != 1:
            raise CheckFailed(f"streamed tool call {call.index} does not carry exactly one id and one name",
                              "one id and the whole name in the call's first delta",
                              f"ids {call.ids}, name fragments {call.names}", evidence)
        if call.names[0] != whole["name"]:
            raise CheckFailed(f"streamed tool call {call.index} has the wrong name", repr(whole["name"]),
                              repr(call.names[0]), evidence)
        try:
            args = json.loads(call.arguments)
        except ValueError as exc:
            raise CheckFailed(f"streamed arguments of call {call.index} ({call.names[0]}) are not valid JSON",
                              f"the non-streaming arguments {excerpt(whole['arguments'])}",
                              f"{excerpt(call.arguments)!r} ({exc})", evidence) from None
        if canonical(args) != canonical(json.loads(whole["arguments"])):
            raise CheckFailed(f"streamed arguments of call {call.index} ({call.names[0]}) differ from non-streaming",
                              excerpt(whole["arguments"]), excerpt(call.arguments), evidence)


def no_markup_in(field: str, text: str | None, model_output: str, chunks: list[str] | None = None) -> None:
    leaked = [m for m in (*MARKERS, THINK_START, THINK_END) if m in (text or "")]
    if leaked:
        raise CheckFailed(f"parser markup leaked into {field}", f"{field} without {leaked}",
                          f"{field} {excerpt(text)!r}", _evidence(model_output, chunks))


def streamed_text_equals_non_streaming(field: str, streamed: str | None, whole: str | None, model_output: str,
                                       chunks: list[str]) -> None:
    """A streamed text field (content, reasoning) concatenates to the non-streaming one."""
    if (streamed or "") != (whole or ""):
        raise CheckFailed(f"streamed {field} differs from the non-streaming {field}", repr(whole), repr(streamed),
                          _evidence(model_output, chunks))


def surrounding_text_is_content(content: str | None, before: str, after: str, model_output: str,
                                chunks: list[str] | None = None) -> None:
    """Text around the call block comes back as content: all of it, in order, nothing else
    (whitespace at its edges and between the two parts aside)."""
    def squeeze(s):
        return "".join((s or "").split())

    if squeeze(content) != squeeze(before + after):
        raise CheckFailed("text around the tool-call block is not returned as content",
                          f"content {before.strip()!r} ... {after.strip()!r}", f"content {content!r}",
                          _evidence(model_output, chunks))


def reasoning_split_equals_generated(reasoning: str | None, content: str | None, expected_reasoning: str,
                                     expected_answer: str, model_output: str) -> None:
    """Non-streaming: the text inside <think>...</think> is the reasoning, the rest the content."""
    if (reasoning or "") != expected_reasoning or (content or "") != expected_answer:
        raise CheckFailed("the reasoning/content split differs from the model's <think> block",
                          f"reasoning {expected_reasoning!r}, content {expected_answer!r}",
                          f"reasoning {reasoning!r}, content {content!r}", _evidence(model_output, None))


def deltas_serializable(unsendable: list[str], model_output: str, chunks: list[str]) -> None:
    """Every streamed delta can be sent: the server serializes each chunk to JSON (UTF-8)."""
    if unsendable:
        raise CheckFailed("a streamed delta cannot be serialized to JSON (the server cannot send the chunk)",
                          "every delta serializable", excerpt(unsendable), _evidence(model_output, chunks))


def served(request, model_output: str):
    """The response of `request()` (an openai SDK call); a server error or a broken stream fails
    the check: the model output never reaches the user as a message."""
    import openai

    try:
        return request()
    except openai.APIError as exc:
        status = getattr(exc, "status_code", None)
        raise CheckFailed("the server did not deliver the parsed message",
                          "HTTP 200 with the parsed message (streamed: every chunk)",
                          f"{f'HTTP {status}: ' if status else ''}{type(exc).__name__}: {excerpt(str(exc))}",
                          _evidence(model_output, None)) from None


# -- exclusions of recorded findings, accounted ----------------------------------------------------
def checked(tally: findings.Tally, check: str, example: findings.Example, run: Callable[[], None]) -> bool:
    """Run one check of a property on a generated example. Its failure is excluded (counted for the
    finding, not raised) only where a recorded finding reproducing on this vLLM (`tally.reproducing`)
    has an input class covering this check and this example; every other failure is raised. True
    when the check passed."""
    covering = findings.classes_for(tally.prop, check, example, tally.reproducing)
    try:
        run()
    except CheckFailed:
        if not covering:
            raise
        tally.exclude(*covering[0], check)
        return False
    return True


def nothing_excluded(tally: findings.Tally, bound: float = findings.MAX_EXCLUDED) -> None:
    """A property holds on every output it generated. One that excluded outputs (recorded findings
    reproducing on this vLLM broke it there) fails naming the findings and their excluded outputs,
    so a known deviation naming exactly those findings marks it DEV; past `bound` of its outputs it
    says so (it checked too little), which such a deviation must name too."""
    if not tally.excluded_outputs:
        return
    rate = tally.excluded_outputs / tally.generated
    over = f", more than {bound:.0%}" if rate > bound else ""
    counts = tally.counts()
    per_finding = ", ".join(f"{fid} {n} ({n / tally.generated:.1%})" for fid, n in counts.items())
    observed = "; ".join(f"{fid}: {n} outputs ({n / tally.generated:.1%}), e.g. {min(tally.witnesses[fid])!r}"
                         for fid, n in counts.items())
    raise CheckFailed(f"{tally.prop} excluded {tally.excluded_outputs} of {tally.generated} generated outputs "
                      f"({rate:.1%}{over}) for recorded findings: {per_finding}",
                      "every generated output checked: no recorded finding breaks the property on this vLLM "
                      f"(and at most {bound:.0%} of the outputs excluded while one does)",
                      observed,
                      f"findings reproducing here (known deviations of their replay tests "
                      f"test_parser_finding_<id>): {', '.join(sorted(tally.reproducing)) or 'none'}")
