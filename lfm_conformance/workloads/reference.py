"""Reference logprobs from transformers for the weights a server serves (the numerics check)."""
from __future__ import annotations


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
