"""The probe prompts suites send (fixtures/probes.yaml is their one definition) and the
per-request sampling preset the guide prescribes."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

PROBES_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "probes.yaml"
OPENAI_SAMPLING = ("temperature", "top_p", "max_tokens", "seed", "n", "stop")


@lru_cache(maxsize=1)
def _load() -> dict:
    return yaml.safe_load(PROBES_FILE.read_text(encoding="utf-8"))


def chat(probe_id: str) -> dict:
    """kwargs for chat.completions.create: messages, and tools where the probe has them."""
    data = _load()
    probe = data["chat"][probe_id]
    kwargs = {"messages": [with_image_urls(m) for m in probe["messages"]]}
    if probe.get("tools"):
        kwargs["tools"] = [copy.deepcopy(data["tools"][name]) for name in probe["tools"]]
    return kwargs


def chat_probes() -> dict[str, str]:
    """Every chat probe with the capability it needs: vision (an image part), tools (tools), or chat."""
    needs = {}
    for probe_id, probe in _load()["chat"].items():
        parts = [p for m in probe["messages"] if isinstance(m.get("content"), list) for p in m["content"]]
        needs[probe_id] = ("vision" if any(p.get("type") == "image" for p in parts)
                           else "tools" if probe.get("tools") else "chat")
    return needs


def with_image_urls(message: dict) -> dict:
    """Image parts {type: image, image: <name in probes.yaml images>, size: <px, optional>} become
    OpenAI image_url parts carrying a PNG data URL."""
    from lfm_conformance.data.images import data_url

    return with_images(message, lambda spec, size: {"type": "image_url", "image_url": {"url": data_url(spec, size)}})


def with_images(message: dict, image_part) -> dict:
    """The message with each named image part replaced by image_part(spec, size)."""
    images = _load()["images"]
    message = copy.deepcopy(message)
    if isinstance(message.get("content"), list):
        message["content"] = [image_part(images[part["image"]], part.get("size")) if part.get("type") == "image"
                              else part for part in message["content"]]
    return message


def reply(probe_id: str, teach_style: str) -> str:
    """The reply a CPU stand-in of this teach style was taught for a chat probe."""
    return _load()["chat"][probe_id]["replies"][teach_style]


def completion_reply(probe_id: str, teach_style: str) -> str:
    """The continuation a CPU stand-in of this teach style was taught for a completion probe."""
    return _load()["completions"][probe_id]["replies"][teach_style]


def tool_schema(name: str) -> dict:
    return copy.deepcopy(_load()["tools"][name]["function"]["parameters"])


def image_spec(name: str) -> dict:
    return copy.deepcopy(_load()["images"][name])


def completion_prompt(probe_id: str) -> str:
    return _load()["completions"][probe_id]["prompt"]


def sampling(preset: dict, **overrides) -> dict:
    """The preset as the guide sends it: OpenAI fields top level, vLLM extras in extra_body."""
    merged = {**preset, **overrides}
    kwargs = {k: v for k, v in merged.items() if k in OPENAI_SAMPLING}
    extra = {k: v for k, v in merged.items() if k not in OPENAI_SAMPLING}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs
