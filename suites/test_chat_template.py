"""Chat template conformance: for each conversation of suites/chat_template_corpus.yaml, the prompt
the server renders (POST /tokenize with messages and tools) equals, token for token, the model's
chat template rendered by transformers (`apply_chat_template(..., tokenize=True)`) with the same
tokenizer; with images, the model's processor (image tokens expanded as the model sees them).
CPU: the fixture tokenizer and template; GPU: the real model's."""
from functools import lru_cache
from pathlib import Path

import httpx
import pytest
import yaml

from lfm_conformance.checks.chat_template import prompt_tokens_equal
from lfm_conformance.data.images import draw
from lfm_conformance.data.probes import with_image_urls, with_images
from lfm_conformance.parsers.parser_driver import weights_path

CORPUS_FILE = Path(__file__).with_name("chat_template_corpus.yaml")
CORPUS = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
pytestmark = pytest.mark.requires("chat")


@lru_cache(maxsize=None)
def _tokenizer(path: str):
    import transformers

    return transformers.AutoTokenizer.from_pretrained(path)


@lru_cache(maxsize=None)
def _processor(path: str):
    import transformers

    return transformers.AutoProcessor.from_pretrained(path)


def _tools(conversation) -> list | None:
    return [CORPUS["tools"][name] for name in conversation.get("tools", [])] or None


def _reference(path: str, messages: list, tools: list | None) -> list[int]:
    from fixtures.teach import template_messages

    # transformers' convention: tool-call arguments as mappings (vLLM parses the JSON text to one).
    messages = template_messages(messages)
    kwargs = dict(tools=tools, add_generation_prompt=True, tokenize=True)
    if any(isinstance(m.get("content"), list) and any(p.get("type") == "image" for p in m["content"]) for m in messages):
        pictures = [with_images(m, lambda spec, size: {"type": "image", "image": draw(spec, size)}) for m in messages]
        return list(_processor(path).apply_chat_template(pictures, return_dict=True, **kwargs)["input_ids"][0])
    return list(_tokenizer(path).apply_chat_template(messages, return_dict=False, **kwargs))


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
    prompt_tokens_equal(resp.json()["tokens"], _reference(path, conversation["messages"], tools),
                        decode=_tokenizer(path).decode)
