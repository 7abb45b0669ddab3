"""Keep secrets (API keys, HF tokens) out of every log, report and failure message."""
from __future__ import annotations

import os
import re
from pathlib import Path

SECRET_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "VLLM_API_KEY", "MODAL_TOKEN_SECRET")
# Any other variable whose name says it holds a key or token: *_API_KEY, *_TOKEN, MODAL_TOKEN_ID, ...
_SECRET_NAME = re.compile(r"(?:^|_)(?:TOKEN|API_?KEY|SECRET|PASSWORD|ACCESS_KEY)(?:_|$)", re.IGNORECASE)
# Values found by name only are redacted from this length on, so that a flag such as
# HF_HUB_DISABLE_IMPLICIT_TOKEN=1 does not turn every "1" of a report into the mask.
MIN_ENV_SECRET_CHARS = 8
_FLAG = re.compile(r"(--api-key[ =])(\S+)")
_BEARER = re.compile(r"(Bearer\s+)(\S+)", re.IGNORECASE)
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
MASK = "***"


def secret_env_names(environ=None) -> list[str]:
    environ = os.environ if environ is None else environ
    return sorted(n for n in environ if n in SECRET_ENV_NAMES or _SECRET_NAME.search(n))


def secret_values(secrets=()) -> list[str]:
    """The explicit secrets plus the values of the environment's secret-looking variables,
    longest first (so a secret containing another is masked whole)."""
    found = [s for s in secrets if s]
    for name in secret_env_names():
        value = os.environ[name]
        if value and (name in SECRET_ENV_NAMES or len(value) >= MIN_ENV_SECRET_CHARS):
            found.append(value)
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, secrets=()) -> str:
    for value in secret_values(secrets):
        text = text.replace(value, MASK)
    text = _FLAG.sub(rf"\g<1>{MASK}", text)
    text = _HF_TOKEN.sub(MASK, text)
    return _BEARER.sub(rf"\g<1>{MASK}", text)


def redact_tree(value, secrets=()):
    """The same JSON-like structure with every string redacted."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, secrets) for v in value]
    return value


def scrub_files(directory: Path, secrets=()) -> list[Path]:
    """Redact, in place, every file under `directory` that holds a secret value (vLLM's own logs
    and pytest's JUnit XML are written by code that knows nothing of our secrets). Returns the
    files rewritten."""
    values = [v.encode() for v in secret_values(secrets)]
    rewritten = []
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(v in data for v in values) or _HF_TOKEN.search(data.decode("utf-8", "replace")):
            path.write_text(redact(data.decode("utf-8", "replace"), secrets), encoding="utf-8")
            rewritten.append(path)
    return rewritten
