"""Sampling presets: per-request client defaults the server honours, never server flags.

Guide: "top_k, min_p, and repetition_penalty are vLLM extra sampling params — pass them via
extra_body on the OpenAI client (or top-level in a raw /v1/... request)" and "Do not bake these
into vllm serve — they are per-request client defaults, not server flags."
"""
from __future__ import annotations

import ast
import json
import re

from lfm_conformance.checks import CheckFailed, excerpt
from lfm_conformance.checks.http import refused_as_client_error

SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                 "presence_penalty", "frequency_penalty")
# vLLM serve flags that set server-wide sampling defaults (vllm/config/model.py
# get_diff_sampling_param): --override-generation-config with sampling keys, and
# --generation-config pointing at a folder of defaults ("auto" and "vllm" set none of their own).
OVERRIDE_FLAG = "--override-generation-config"
GENERATION_CONFIG_FLAG = "--generation-config"
NEUTRAL_GENERATION_CONFIG = ("auto", "vllm")
# What vLLM samples with where neither the request nor the server sets a parameter: OpenAI's neutral
# values (vllm/entrypoints/openai/chat_completion/protocol.py _DEFAULT_SAMPLING_PARAMS; top_k 0 or -1 =
# off). max_tokens has no neutral value: unset, a reply may run to the context's end.
NEUTRAL = {"repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0, "temperature": 1.0,
           "top_p": 1.0, "top_k": 0, "min_p": 0.0}
# The generation_config.json keys vLLM takes as server-wide sampling defaults (vllm/config/model.py
# get_diff_sampling_param; max_new_tokens becomes the default max_tokens).
GENERATION_CONFIG_KEYS = (*NEUTRAL, "max_new_tokens")
# vLLM's start-up report of them (a warning, vLLM 0.23 to 0.32): "Default vLLM sampling parameters have
# been overridden by the model's `generation_config.json`: `{'temperature': 0.3}`. If this is not
# intended, please relaunch vLLM instance with `--generation-config vllm`."
DEFAULTS_REPORT = re.compile(r"Default vLLM sampling parameters have been overridden by (?P<source>.+?): "
                             r"`(?P<params>\{.*?\})`")


def reply_text(response: dict) -> str:
    """What a chat or completion response generated: completion text, or chat reasoning + content."""
    choices = response.get("choices") or []
    if not choices:
        return ""
    choice = choices[0]
    if "message" in choice:
        message = choice.get("message") or {}
        parts = (message.get("reasoning"), message.get("reasoning_content"), message.get("content"))
        return "".join(p for p in parts if p)
    return choice.get("text") or ""


def accepted(status: int, body) -> None:
    """The request carrying the preset was served: HTTP 200 with generated text."""
    expected = "HTTP 200 with a reply (the guide's preset is a valid per-request sampling setting)"
    if status != 200:
        raise CheckFailed(f"the preset was not accepted (HTTP {status})", expected, f"HTTP {status}",
                          excerpt(body))
    if not reply_text(body).strip():
        raise CheckFailed("the preset request returned no text", expected, "HTTP 200 with empty reply",
                          excerpt(body))


def takes_effect(a: list[str], b: list[str], what: str) -> None:
    """b (sent with the parameter) differs from a (the same requests without it)."""
    if a == b:
        raise CheckFailed(f"{what} had no effect: the outputs with and without it are identical",
                          f"{what} changes the output (the server honours it)",
                          "identical outputs, as if the parameter were ignored", excerpt(b))


def reproduces(outputs: list[str], reference: str, what: str) -> None:
    """Every output equals the reference (e.g. the greedy output)."""
    differing = [o for o in outputs if o != reference]
    if differing:
        raise CheckFailed(f"{what} did not reproduce the greedy output",
                          f"every output equal to the greedy output {reference!r}",
                          f"{len(differing)} of {len(outputs)} differ, e.g. {differing[0]!r}", excerpt(outputs))


def rejected_client_error(status: int, body, parameter: str | None = None) -> None:
    """An out-of-range sampling value: a 4xx whose message names the parameter, never a 5xx."""
    expected = f"HTTP 4xx naming {parameter or 'the parameter'}"
    message = refused_as_client_error(status, body, f"an out-of-range {parameter or 'sampling value'}", expected)
    if parameter and parameter not in message:
        raise CheckFailed(f"the rejection does not name {parameter}", expected, message, excerpt(body))


def _sampling_keys_in(value: str) -> list[str] | None:
    """Sampling keys an --override-generation-config JSON value sets; None if it is not JSON."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return [k for k in data if k in SAMPLING_KEYS]


def _baked(command: list[str]) -> list[str]:
    """Each argument of the command that sets a sampling default, with its value."""
    found = []
    args = [str(a) for a in command]
    sampling_flags = {"--" + k.replace("_", "-") for k in SAMPLING_KEYS}
    for i, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        if not name.startswith("--"):
            continue
        flag = "--" + name[2:].replace("_", "-")
        value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
        shown = arg if eq else f"{arg} {value}"
        if flag in sampling_flags:
            found.append(shown)
        elif flag == OVERRIDE_FLAG:
            keys = _sampling_keys_in(value)
            if keys is None:
                found.append(f"{shown} (not a JSON object: cannot tell what it sets)")
            elif keys:
                found.append(f"{shown} (sets {', '.join(keys)})")
        elif flag.startswith(OVERRIDE_FLAG + "."):
            if flag[len(OVERRIDE_FLAG) + 1:].replace("-", "_") in SAMPLING_KEYS:
                found.append(shown)
        elif flag == GENERATION_CONFIG_FLAG and value not in NEUTRAL_GENERATION_CONFIG:
            found.append(f"{shown} (a folder of generation defaults)")
    return found


def no_sampling_flags(command: list[str]) -> None:
    """The server command line sets no sampling defaults."""
    found = _baked(command)
    if found:
        raise CheckFailed("the server command bakes sampling defaults into vllm serve",
                          "no sampling flags (the guide: per-request client defaults, not server flags)",
                          "; ".join(found), excerpt(" ".join(map(str, command))))


# -- server-side sampling defaults ------------------------------------------------------------------
def served_defaults(log_text: str) -> tuple[dict, str | None]:
    """The sampling defaults the server reported at start-up that it applies to every request leaving a
    parameter unset, and their source (e.g. "the model's `generation_config.json`"); ({}, None) when
    the log reports none (vLLM reports them whenever there are any)."""
    found = DEFAULTS_REPORT.search(log_text or "")
    if found is None:
        return {}, None
    try:
        params = ast.literal_eval(found.group("params"))
    except (ValueError, SyntaxError):
        raise ValueError(f"cannot read vLLM's report of its sampling defaults: {found.group(0)!r}") from None
    return dict(params), found.group("source")


def shipped_defaults(generation_config: dict | None) -> dict | None:
    """The sampling keys of a checkpoint's generation_config.json, as vLLM names them (max_new_tokens
    -> max_tokens); None when the file is not at hand."""
    if generation_config is None:
        return None
    found = {k: generation_config[k] for k in GENERATION_CONFIG_KEYS if generation_config.get(k) is not None}
    if "max_new_tokens" in found:
        found["max_tokens"] = found.pop("max_new_tokens")
    return found


def _is_neutral(name: str, value) -> bool:
    if name == "top_k":
        return value in (0, -1)
    return name in NEUTRAL and value == NEUTRAL[name]


def effective_params(request: dict, defaults: dict) -> dict:
    """What vLLM samples a request with: each parameter from the request, else the server's default,
    else the neutral value (vLLM's rule, "Priority: user -> server default -> OpenAI default");
    max_tokens only where the request or the server sets it."""
    out = {name: request.get(name, defaults.get(name, neutral)) for name, neutral in NEUTRAL.items()}
    max_tokens = request.get("max_tokens", defaults.get("max_tokens"))
    return {**out, **({"max_tokens": max_tokens} if max_tokens is not None else {})}


def preset_gets_no_server_default(preset: dict, defaults: dict, source: str | None) -> dict:
    """A request carrying exactly the guide's preset (max_tokens left unset, as the guide says) is
    sampled with the preset and neutral values only: no server-side default fills a parameter the
    preset leaves out. Returns the parameters it is sampled with."""
    filled = {k: v for k, v in defaults.items() if k not in preset and not _is_neutral(k, v)}
    if filled:
        raise CheckFailed(
            "a server-side sampling default reaches requests carrying the guide's preset",
            f"exactly the preset {preset}, every other parameter neutral and max_tokens unset (the guide: "
            "per-request client defaults, not server flags; leave max_tokens unset)",
            ", ".join(f"{k}={v!r}" for k, v in filled.items()) + f" applied by the server (from {source or 'an unnamed source'})",
            f"server defaults {defaults}; the preset request is sampled with {effective_params(preset, defaults)}")
    return effective_params(preset, defaults)
