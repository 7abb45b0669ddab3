"""Chat template conformance: for each conversation of suites/chat_template_corpus.yaml, the prompt
the server renders (POST /tokenize with messages and tools) equals, token for token, the model's
chat template rendered by transformers (`apply_chat_template(..., tokenize=True)`) with the same
tokenizer; with images, the model's processor (image tokens expanded as the model sees them).
CPU: the fixture tokenizer and template; GPU: the real model's."""
from pathlib import Path

import httpx
import pytest
import yaml

from lfm_conformance.checks.chat_template import prompt_tokens_equal
from lfm_conformance.data.probes import with_image_urls
from lfm_conformance.parsers.parser_driver import weights_path
from lfm_conformance.workloads import reference

CORPUS_FILE = Path(__file__).with_name("chat_template_corpus.yaml")
CORPUS = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
pytestmark = pytest.mark.requires("chat")


def _tools(conversation) -> list | None:
    return [CORPUS["tools"][name] for name in conversation.get("tools", [])] or None


@pytest.mark.parametrize("name", list(CORPUS["conversations"]))
def test_served_prompt_equals_template_rendering(model, matrix, target, server, name):
    conversation = CORPUS["conversations"][name]
    needs = conversation.get("requires", "chat")
    if not model.has(needs):
        pytest.skip(f"not applicable: conversation {name} needs capability {needs}; {model.name} has {list(model.capabilities)}")
    tools = _tools(conversation)
    messages = [with_image_urls(m) for m in conversation["messages"]]
    body = {"model": model.hf_id, "messages": messages, "add_generation_prompt": True}
    if tools:
        body["tools"] = tools
    resp = httpx.post(server.url("/tokenize"), json=body, timeout=60,
                      headers={"Authorization": f"Bearer {server.api_key}"} if server.api_key else None)
    assert resp.status_code == 200, f"POST /tokenize: HTTP {resp.status_code}: {resp.text[:500]}"
    path = weights_path(model, matrix, target)
    prompt_tokens_equal(resp.json()["tokens"], reference.template_rendering(path, conversation["messages"], tools),
                        decode=reference.tokenizer(path).decode)
