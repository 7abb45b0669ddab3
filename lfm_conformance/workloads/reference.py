"""References from transformers for the weights a server serves: prompt logprobs (the numerics check),
the chat template's rendering of a request (the served-prompt checks)."""
from __future__ import annotations

from functools import lru_cache

from lfm_conformance.data.images import draw
from lfm_conformance.data.probes import with_images


def prompt_logprobs(model_path: str, architecture: str, ids: list[int]) -> list[float]:
    """log p(token_i | tokens_<i) for i >= 1, computed by transformers on CPU in float32 (or on the
    GPU, where one is present, in the checkpoint's own dtype: bfloat16 for the real weights, float32
    for the fixtures, as the gpu and gpu-fixture targets serve them)."""
    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto" if device == "cuda" else torch.float32
    cls = transformers.AutoModelForImageTextToText if architecture.endswith("ConditionalGeneration") \
        else transformers.AutoModelForCausalLM
    model = cls.from_pretrained(model_path, dtype=dtype).to(device).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=device)).logits[0].float()
    logprobs = logits.log_softmax(-1)
    return [logprobs[i - 1, ids[i]].item() for i in range(1, len(ids))]


# From their modules, not transformers' lazy top level: a server started ahead (harness prefetch) may be
# importing transformers in another thread, and the lazy attribute then fails ("has no attribute").
@lru_cache(maxsize=None)
def tokenizer(model_path: str):
    """The served weights' tokenizer, as transformers loads it (one per path and process)."""
    from transformers.models.auto.tokenization_auto import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


@lru_cache(maxsize=None)
def processor(model_path: str):
    from transformers.models.auto.processing_auto import AutoProcessor

    return AutoProcessor.from_pretrained(model_path)


def template_rendering(model_path: str, messages: list, tools: list | None) -> list[int]:
    """The model's chat template rendered by transformers for a chat request, as token ids (generation
    prompt added); with images, its processor's rendering (image tokens expanded as the model sees them)."""
    from fixtures.teach import template_messages

    # transformers' convention: tool-call arguments as mappings (vLLM parses the JSON text to one).
    messages = template_messages(messages)
    kwargs = dict(tools=tools, add_generation_prompt=True, tokenize=True)
    if any(isinstance(m.get("content"), list) and any(p.get("type") == "image" for p in m["content"]) for m in messages):
        pictures = [with_images(m, lambda spec, size: {"type": "image", "image": draw(spec, size)}) for m in messages]
        return list(processor(model_path).apply_chat_template(pictures, return_dict=True, **kwargs)["input_ids"][0])
    return list(tokenizer(model_path).apply_chat_template(messages, return_dict=False, **kwargs))
