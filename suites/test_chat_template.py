"""Chat template conformance: for each conversation of suites/chat_template_corpus.yaml, the prompt
the server renders (POST /tokenize with messages and tools) equals, token for token, the model's
chat template rendered by transformers (`apply_chat_template(..., tokenize=True)`) with the same
tokenizer. CPU: the fixture tokenizer and template; GPU: the real model's."""
from functools import lru_cache
from pathlib import Path

import httpx
import pytest
import yaml

from lfm_conformance.checks.chat_template import prompt_tokens_equal
from lfm_conformance.parser_driver import weights_path

CORPUS_FILE = Path(__file__).with_name("chat_template_corpus.yaml")
CORPUS = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
pytestmark = pytest.mark.requires("chat")


@lru_cache(maxsize=None)
def _tokenizer(path: str):
    import transformers

    return transformers.AutoTokenizer.from_pretrained(path)


def _tools(conversation) -> list | None:
    return [CORPUS["tools"][name] for name in conversation.get("tools", [])] or None


@pytest.mark.parametrize("name", list(CORPUS["conversations"]))
def test_served_prompt_equals_template_rendering(model, matrix, target, server, name):
    from fixtures.teach import template_messages

    conversation = CORPUS["conversations"][name]
    tools = _tools(conversation)
    body = {"model": model.hf_id, "messages": conversation["messages"], "add_generation_prompt": True}
    if tools:
        body["tools"] = tools
    resp = httpx.post(server.url("/tokenize"), json=body, timeout=60,
                      headers={"Authorization": f"Bearer {server.api_key}"} if server.api_key else None)
    assert resp.status_code == 200, f"POST /tokenize: HTTP {resp.status_code}: {resp.text[:500]}"
    tokenizer = _tokenizer(weights_path(model, matrix, target))
    # transformers' convention: tool-call arguments as mappings (vLLM parses the JSON text to one).
    reference = tokenizer.apply_chat_template(template_messages(conversation["messages"]), tools=tools,
                                              add_generation_prompt=True, tokenize=True, return_dict=False)
    prompt_tokens_equal(resp.json()["tokens"], list(reference), decode=tokenizer.decode)
