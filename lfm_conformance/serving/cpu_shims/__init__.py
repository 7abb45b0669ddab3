"""CPU shims: a sitecustomize per shim (cpu_shims/NAME/sitecustomize.py) that a cpu-target server of
a given vLLM version loads from its PYTHONPATH (matrix.yaml vllm.versions[].cpu_shim)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

SHIMS_DIR = Path(__file__).parent
TARGET = "cpu"  # the only target a shim applies to


def names() -> list[str]:
    return sorted(p.name for p in SHIMS_DIR.iterdir() if (p / "sitecustomize.py").is_file())


def path(name: str) -> Path:
    return SHIMS_DIR / name


def describe(name: str) -> str:
    """The shim's first docstring line: what it changes."""
    import ast
    doc = ast.get_docstring(ast.parse((path(name) / "sitecustomize.py").read_text())) or name
    return doc.splitlines()[0]


def for_run(matrix, target: str, vllm_version: str | None) -> str | None:
    """The shim the run's servers load: the installed version's cpu_shim on the cpu target, else None."""
    entry = matrix.vllm_versions.get(vllm_version or "")
    return entry.cpu_shim if entry is not None and target == TARGET else None


def apply(matrix, shim: str | None):
    """The matrix with the cpu target's servers loading `shim` (PYTHONPATH first), or unchanged."""
    if shim is None:
        return matrix
    target = matrix.targets[TARGET]
    search = os.pathsep.join(p for p in (str(path(shim)), os.environ.get("PYTHONPATH", "")) if p)
    env = {**target.env, "PYTHONPATH": search}
    return dataclasses.replace(matrix, targets={**matrix.targets, TARGET: dataclasses.replace(target, env=env)})
