"""Keep secrets (API keys, HF tokens) out of every log, report and failure message."""
from __future__ import annotations

import os
import re

SECRET_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "VLLM_API_KEY", "MODAL_TOKEN_SECRET")
_FLAG = re.compile(r"(--api-key[ =])(\S+)")
_BEARER = re.compile(r"(Bearer\s+)(\S+)", re.IGNORECASE)
MASK = "***"


def redact(text: str, secrets=()) -> str:
    values = [s for s in secrets if s] + [os.environ[n] for n in SECRET_ENV_NAMES if os.environ.get(n)]
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _FLAG.sub(rf"\g<1>{MASK}", text)
    return _BEARER.sub(rf"\g<1>{MASK}", text)
