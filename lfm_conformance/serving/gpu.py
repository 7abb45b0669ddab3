"""The GPU target: which GPU this host has (nvidia-smi), which matrix GPU key that is, which
(model, GPU) pairs the guide supports, and what a pair adds to the server (context cap, Blackwell
environment). Data comes from matrix.yaml (`gpus`, each model's `gpus` / `min_gpu_memory_gb` /
`blackwell_env`, and the `fleet` section)."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import yaml
from packaging.version import InvalidVersion, Version

from lfm_conformance.data.matrix import Matrix, MatrixError, Model, ServeConfig

UNLISTED = "unlisted"
NOT_APPLICABLE = "not applicable: "  # the prefix the grid and reports read as n/a
NVIDIA_SMI_QUERY = ("--query-gpu=name,memory.total", "--format=csv,noheader,nounits")


@dataclass(frozen=True)
class HostGpu:
    """A GPU as this run sees it: its matrix key (or "unlisted"), memory, and the name reported."""

    key: str
    memory_gb: float
    name: str = ""
    blackwell: bool = False

    def label(self) -> str:
        return self.key if self.key != UNLISTED else f"unlisted GPU {self.name or '?'} ({self.memory_gb:g} GB)"


@dataclass(frozen=True)
class Fleet:
    """matrix.yaml's `fleet` section."""

    nvidia_smi: dict[str, re.Pattern]  # GPU key -> name pattern
    modal: dict[str, str]  # GPU key -> Modal GPU string
    docker: dict[str, str]
    modal_app: dict  # served_name, published_args
    context_caps: dict[str, dict[str, int]]  # model -> GPU key -> --max-model-len


def fleet(matrix: Matrix) -> Fleet:
    data = (yaml.safe_load(matrix.path.read_text(encoding="utf-8")) or {}).get("fleet")
    if data is None:
        raise MatrixError(f"{matrix.path}: fleet: missing; the GPU target, Docker and Modal need it")
    patterns = {}
    for key, row in data["gpus"].items():
        try:
            patterns[key] = re.compile(row["nvidia_smi"])
        except re.error as exc:
            raise MatrixError(f"{matrix.path}: fleet.gpus.{key}.nvidia_smi: not a valid regular expression: {exc}")
    missing = sorted(set(matrix.gpus) - set(patterns))
    if missing:
        raise MatrixError(f"{matrix.path}: fleet.gpus: no entry for {', '.join(missing)}; every key of `gpus` needs one")
    return Fleet(patterns, {k: r["modal"] for k, r in data["gpus"].items()}, dict(data["docker"]), dict(data["modal"]),
                 {m: dict(c) for m, c in data["context_caps"].items()})


# -- detection ------------------------------------------------------------------------------------
def query_nvidia_smi(query: Sequence[str] = NVIDIA_SMI_QUERY) -> str | None:
    """nvidia-smi's CSV line per GPU for `query` (default: name and memory in MiB, no units), or None
    where there is no nvidia-smi or it finds no GPU."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *query], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 and out.stdout.strip() else None


def identify(matrix: Matrix, name: str, memory_mib: float) -> HostGpu:
    """Map an nvidia-smi name and memory (MiB) to the matrix GPU key, or "unlisted"."""
    memory_gb = round(memory_mib / 1024, 1)
    for key, pattern in fleet(matrix).nvidia_smi.items():
        if pattern.search(name):
            return HostGpu(key, matrix.gpus[key].memory_gb, name, matrix.gpus[key].blackwell)
    return HostGpu(UNLISTED, memory_gb, name)


def detect(matrix: Matrix, query: Callable[[], str | None] = query_nvidia_smi) -> HostGpu | None:
    """The host's first GPU, or None when nvidia-smi reports none (a CPU machine)."""
    text = query()
    if not text:
        return None
    name, _, memory = text.strip().splitlines()[0].rpartition(",")
    try:
        return identify(matrix, name.strip(), float(memory))
    except ValueError:
        raise ValueError(f"nvidia-smi: cannot read the memory of {text.strip()!r}") from None


def host_gpu(matrix: Matrix, key: str | None, query: Callable[[], str | None] = query_nvidia_smi) -> HostGpu:
    """`--gpu KEY` when given, else the detected GPU; ValueError with one clear line otherwise."""
    if key is not None:
        if key not in matrix.gpus:
            raise ValueError(f"--gpu {key!r}: not in {matrix.path} gpus; allowed values: {', '.join(matrix.gpus)}")
        g = matrix.gpus[key]
        return HostGpu(key, g.memory_gb, key, g.blackwell)
    found = detect(matrix, query)
    if found is None:
        raise ValueError(f"--target gpu: nvidia-smi reports no GPU here; pass --gpu KEY "
                         f"(allowed values: {', '.join(matrix.gpus)}) or use --target cpu")
    return found


def auto_target(query: Callable[[], str | None] = query_nvidia_smi) -> str:
    """The target when none is given: gpu where nvidia-smi reports a GPU, else cpu."""
    return "gpu" if query() else "cpu"


# -- selection ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Applicability:
    applicable: bool
    reason: str = ""  # why not, without the "not applicable: " prefix


def select(matrix: Matrix, model: Model, gpu: HostGpu) -> Applicability:
    """Whether the guide supports `model` on `gpu`: the GPU must have the model's minimum memory and,
    for a matrix GPU, be one the guide lists for the model. An unlisted GPU is judged on memory."""
    if gpu.memory_gb < model.min_gpu_memory_gb:
        return Applicability(False, f"{model.name} needs >= {model.min_gpu_memory_gb:g} GB; "
                                    f"{gpu.label()} has {gpu.memory_gb:g} GB")
    if gpu.key != UNLISTED and gpu.key not in model.gpus:
        return Applicability(False, f"the guide lists {model.name} on {', '.join(model.gpus)} only, not on {gpu.key}")
    return Applicability(True)


def serve_config(matrix: Matrix, base: ServeConfig, model: Model, gpu: HostGpu) -> ServeConfig:
    """A GPU server's configuration: the guide's context cap for this GPU, if any, and the model's
    Blackwell environment on a Blackwell GPU."""
    cap = fleet(matrix).context_caps.get(model.name, {}).get(gpu.key)
    args = base.args if cap is None or "--max-model-len" in base.args else ("--max-model-len", str(cap), *base.args)
    env = {**base.env, **(model.blackwell_env if gpu.blackwell else {})}
    return replace(base, args=args, env=env)


# -- vLLM version -----------------------------------------------------------------------------------
def check_vllm_version(found: str | None, minimum: str, where: str) -> None:
    """ValueError with one line when `found` (the installed or served vLLM) is older than the matrix
    minimum. `where` says whose version it is."""
    if found is None:
        return
    try:
        ok = Version(found) >= Version(minimum)
    except InvalidVersion:
        raise ValueError(f"{where}: cannot read vLLM version {found!r}") from None
    if not ok:
        raise ValueError(f"{where}: vLLM {found} is older than {minimum}, the minimum matrix.yaml "
                         f"vllm.min_version sets (the guide: LFM2.5 runs on vLLM >= {minimum})")
