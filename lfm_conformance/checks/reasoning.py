"""Reasoning split: <think>…</think> goes to a separate field, the answer to content.
Guide: "Launch with the qwen3 reasoning parser to split it into a separate reasoning_content field";
"a trivial prompt may be answered directly, in which case reasoning_content is empty"."""
from __future__ import annotations

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.tool_calls import message_of

DOCUMENTED_FIELD = "reasoning_content"
FIELDS = ("reasoning_content", "reasoning")
TAGS = ("<think>", "</think>")


def reasoning_text(message: dict) -> str:
    """The reasoning text in whichever field the server uses."""
    return "".join(message.get(f) or "" for f in FIELDS)


def field_in_use(message: dict) -> str | None:
    return next((f for f in FIELDS if message.get(f)), None)


def reasoning_in_documented_field(response: dict) -> None:
    message, _ = message_of(response)
    if not message.get(DOCUMENTED_FIELD):
        raise CheckFailed(f"the reasoning is not in the documented field {DOCUMENTED_FIELD}",
                          f"message.{DOCUMENTED_FIELD} holds the chain of thought",
                          f"{DOCUMENTED_FIELD}={message.get(DOCUMENTED_FIELD)!r}; reasoning found in "
                          f"{field_in_use(message)!r}", excerpt(message))


def no_tags_in_content(message: dict) -> None:
    content = message.get("content") or ""
    if any(tag in content for tag in TAGS):
        raise CheckFailed("<think> tags leaked into content", "content without <think>/</think>",
                          f"content {excerpt(content)!r}")


def reasoning_split(response: dict) -> None:
    """Chain of thought in the reasoning field, the answer in content, no tags in content."""
    message, _ = message_of(response)
    if not reasoning_text(message).strip():
        raise CheckFailed("no reasoning was split out", "the chain of thought in a reasoning field",
                          f"reasoning fields empty; content {excerpt(message.get('content'))!r}", excerpt(message))
    if not (message.get("content") or "").strip():
        raise CheckFailed("the answer is not in content", "the answer after </think> in content",
                          f"content {message.get('content')!r}; reasoning {excerpt(reasoning_text(message))!r}")
    no_tags_in_content(message)
    if any(tag in reasoning_text(message) for tag in TAGS):
        raise CheckFailed("<think> tags left in the reasoning field", "reasoning text without tags",
                          excerpt(reasoning_text(message)))


def taught_split(reply: str) -> tuple[str, str]:
    """(reasoning, answer) of a model output written as <think>reasoning</think>answer."""
    head, _, answer = reply.partition(TAGS[1])
    return head.removeprefix(TAGS[0]).strip(), answer.strip()


def split_equals(response: dict, reasoning: str, answer: str) -> None:
    """The reasoning field holds exactly what the model thought and content exactly its answer
    (known outputs: the CPU stand-ins' taught replies)."""
    message, _ = message_of(response)
    got = (reasoning_text(message).strip(), (message.get("content") or "").strip())
    if got != (reasoning.strip(), answer.strip()):
        raise CheckFailed("the reasoning and the answer are not split as the model wrote them",
                          f"reasoning {reasoning!r}; content {answer!r}", f"reasoning {got[0]!r}; content {got[1]!r}",
                          excerpt(message))


def direct_answer(response: dict) -> None:
    """A trivial prompt answered without <think>: reasoning empty, answer in content."""
    message, _ = message_of(response)
    content = message.get("content") or ""
    if not content.strip() or reasoning_text(message).strip():
        raise CheckFailed("a direct answer is not in content with an empty reasoning field",
                          "reasoning empty and the answer in content",
                          f"content {content!r}; {field_in_use(message)}={excerpt(reasoning_text(message))!r}",
                          excerpt(message))
    no_tags_in_content(message)


def stream_matches(streamed: dict, whole: dict) -> None:
    """Streaming deltas concatenate to the non-streaming reasoning and content."""
    s, _ = message_of(streamed)
    w, _ = message_of(whole)
    for name, a, b in (("reasoning", reasoning_text(s), reasoning_text(w)),
                       ("content", s.get("content") or "", w.get("content") or "")):
        if a != b:
            raise CheckFailed(f"streamed {name} differs from the non-streaming {name}", repr(excerpt(b)), repr(excerpt(a)))


def finish_reason(response: dict, expected: str) -> None:
    _, finish = message_of(response)
    if finish != expected:
        raise CheckFailed(f"finish_reason is not {expected!r}", f"finish_reason {expected!r}",
                          f"finish_reason {finish!r}", excerpt(response))


def reasoning_split_before_tool_call(response: dict) -> None:
    """With reasoning and tools combined, the thinking lands in the reasoning field."""
    message, _ = message_of(response)
    if not reasoning_text(message).strip():
        raise CheckFailed("no reasoning alongside the tool call", "the <think> text in a reasoning field",
                          "reasoning fields empty", excerpt(message))
    no_tags_in_content(message)


def thinking_kept_out_of_content(response: dict, thought: str | None = None) -> None:
    """The chain of thought is split out of content: a reasoning field holds it, and content carries no
    <think>/</think> nor (where the model's thought is known: the CPU stand-ins) the thought itself."""
    message, _ = message_of(response)
    content = message.get("content") or ""
    visible = [tag for tag in TAGS if tag in content]
    if thought and thought.strip() and thought.strip() in content:
        visible.append("the model's thought")
    if visible or not reasoning_text(message).strip():
        raise CheckFailed(
            "the chain of thought is not split out of content",
            "the <think> text in a reasoning field and the answer alone in content (the guide: --reasoning-parser "
            "qwen3 for 8B-A1B and 1.2B-Thinking)",
            f"content {excerpt(content, 300)!r} ({'holding ' + ', '.join(visible) if visible else 'no <think> tag visible'}); "
            f"{field_in_use(message) or 'reasoning fields'} {excerpt(reasoning_text(message), 300)!r}",
            excerpt(message))
