"""The fixtures' chat template (fixtures/chat_template.jinja) renders exactly what the published LFM2.5
template renders (tests/data/published_template_renderings.yaml: the corpus of
suites/chat_template_corpus.yaml and more template paths), errors included."""
from pathlib import Path

import pytest
import yaml
from transformers.utils.chat_template_utils import render_jinja_template

from fixtures.build import TEMPLATE
from fixtures.teach import dated, template_messages

ROOT = Path(__file__).resolve().parent.parent
RECORDED = yaml.safe_load((Path(__file__).parent / "data" / "published_template_renderings.yaml").read_text(encoding="utf-8"))
CORPUS = yaml.safe_load((ROOT / "suites" / "chat_template_corpus.yaml").read_text(encoding="utf-8"))


def _render(messages, tools=None, add_generation_prompt=True, template=None, **kwargs):
    try:
        out, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=template or TEMPLATE.read_text(),
                                       add_generation_prompt=add_generation_prompt, bos_token="<|startoftext|>",
                                       eos_token="<|im_end|>", strftime_now=dated(RECORDED["day"]), **kwargs)
        return out[0]
    except Exception as exc:  # the published template's errors are part of what it renders
        return {"error": f"{type(exc).__name__}: {exc}"}


def _as_served(messages):
    """Messages as the server hands them to the template: arguments as mappings, image parts as {type: image}."""
    return [{**m, "content": [{"type": "image"} if p.get("type") == "image" else p for p in m["content"]]}
            if isinstance(m.get("content"), list) else m for m in template_messages(messages)]


def test_every_corpus_conversation_is_recorded():
    assert set(RECORDED["corpus"]) == set(CORPUS["conversations"]), (
        "tests/data/published_template_renderings.yaml lacks (or has extra) corpus conversations: "
        f"{sorted(set(RECORDED['corpus']) ^ set(CORPUS['conversations']))}")


@pytest.mark.parametrize("name", list(CORPUS["conversations"]))
def test_fixture_template_renders_corpus_as_published(name):
    conversation = CORPUS["conversations"][name]
    tools = [CORPUS["tools"][t] for t in conversation.get("tools", [])] or None
    assert _render(_as_served(conversation["messages"]), tools) == RECORDED["corpus"][name]


@pytest.mark.parametrize("name", list(RECORDED["cases"]))
def test_fixture_template_renders_case_as_published(name):
    case = RECORDED["cases"][name]
    rendered = _render(case["messages"], case.get("tools"), case.get("add_generation_prompt", True),
                       **case.get("kwargs", {}))
    assert rendered == case["rendered"]


def _differences(template: str) -> list[str]:
    out = []
    for name, conversation in CORPUS["conversations"].items():
        tools = [CORPUS["tools"][t] for t in conversation.get("tools", [])] or None
        if _render(_as_served(conversation["messages"]), tools, template=template) != RECORDED["corpus"][name]:
            out.append(name)
    for name, case in RECORDED["cases"].items():
        if _render(case["messages"], case.get("tools"), case.get("add_generation_prompt", True), template=template,
                   **case.get("kwargs", {})) != case["rendered"]:
            out.append(name)
    return out


@pytest.mark.parametrize("mutation", [
    ("\"Today's date: \"", "\"Date: \""),            # the system turn's wording
    ("\"'\" ~ value ~ \"'\"", "value | tojson"),       # string call values quoted as JSON
    ("| trim", ""),                                       # past-turn text after </think> kept as is
    ('{%- elif part["type"] == "image" -%}{{- "<image>" -}}', '{%- elif part["type"] == "image" -%}{{- "<img>" -}}'),
])
def test_a_template_that_renders_differently_fails(mutation):
    """The recorded renderings catch a template that differs from the published one in one place."""
    old, new = mutation
    text = TEMPLATE.read_text()
    assert old in text
    assert _differences(text.replace(old, new)), f"no recorded rendering shows the mutation {mutation}"


def test_tool_prompts_carry_the_day():
    """The published template writes the day into every prompt with tools (why fixtures are taught per day)."""
    tools = [CORPUS["tools"]["get_weather"]]
    messages = [{"role": "user", "content": "x"}]
    assert "Today's date: 2030-01-02" in render_jinja_template(
        conversations=[messages], tools=tools, chat_template=TEMPLATE.read_text(), bos_token="",
        strftime_now=dated("2030-01-02"))[0][0]
