"""The guide's benchmark protocol and speed-of-light knobs (matrix.yaml `benchmarks`), and running
vLLM's own benchmark code (`vllm bench serve`, i.e. vllm.benchmarks.serve) against a running server."""
from __future__ import annotations

import contextlib
import io
import math
import numbers
from dataclasses import dataclass, field

from lfm_conformance.data.matrix import Matrix, MatrixError, Model

# Figures kept from vLLM's result dict: throughput, latency (mean, median, p99), request counts.
LATENCIES = ("ttft", "tpot", "itl", "e2el")
FIGURE_KEYS = ("completed", "failed", "num_prompts", "duration", "request_throughput", "output_throughput",
               "total_token_throughput", "total_input_tokens", "total_output_tokens") + tuple(
    f"{stat}_{name}_ms" for name in LATENCIES for stat in ("mean", "median", "p99"))


@dataclass(frozen=True)
class Profile:
    name: str
    input_len: int
    output_len: int
    request_rate: float
    num_prompts: int
    ignore_eos: bool

    def bench_args(self) -> list[str]:
        """The `vllm bench serve` arguments of this profile (random dataset)."""
        args = ["--dataset-name", "random", "--random-input-len", str(self.input_len),
                "--random-output-len", str(self.output_len), "--request-rate", str(self.request_rate),
                "--num-prompts", str(self.num_prompts)]
        return args + (["--ignore-eos"] if self.ignore_eos else [])


@dataclass(frozen=True)
class Knob:
    name: str
    args: tuple[str, ...]
    env: dict
    guide: str
    promise: str  # "identical" | "little-difference"
    claimed_gain: float
    gain_on: str  # "all" | "blackwell"
    requires: str | None
    not_applicable: dict  # target or GPU class -> reason
    measure: str = "output_throughput"  # or "ttft" (on the tokenization-bound profile; lower is better)

    @property
    def setting(self) -> str:
        return " ".join([*(f"{k}={v}" for k, v in self.env.items()), *self.args])


@dataclass(frozen=True)
class TensorParallel:
    """A multi-GPU server setting (matrix.yaml benchmarks.tensor_parallel): the guide claims no
    meaningful throughput gain from it; it needs `gpus` GPUs on one node."""

    name: str
    args: tuple[str, ...]
    gpus: int
    guide: str
    max_gain: float  # "no meaningful speedup": with / without - 1 at most this

    @property
    def setting(self) -> str:
        return " ".join(self.args)


@dataclass(frozen=True)
class Baseline:
    model: str
    where: str  # target (fixture weights) or GPU name
    metric: str
    value: float
    rtol: float
    source: str


@dataclass(frozen=True)
class Plan:
    """What the perf suite does on one target."""

    serve_args: tuple[str, ...]
    profile: Profile
    tokenization_profile: Profile
    models: tuple[str, ...] | None  # None: every model
    knob_models: dict | None  # {"text": model, "vision": model}; None: every model
    throughput_gate: bool
    gain_tolerance: float | None  # None: claimed gains are reported, not gated
    knobs: tuple[Knob, ...] = field(default_factory=tuple)
    baselines: tuple[Baseline, ...] = field(default_factory=tuple)
    tensor_parallel: TensorParallel | None = None

    def runs_protocol(self, model: Model) -> bool:
        return self.models is None or model.name in self.models

    def knob_skip_reason(self, knob: Knob, model: Model, where: str) -> str | None:
        """Why this knob is not checked on this model here (None: it is checked)."""
        if knob.requires and not model.has(knob.requires):
            return f"not applicable: {knob.name} concerns models with capability '{knob.requires}'"
        if where in knob.not_applicable:
            return f"not applicable on {where}: {knob.not_applicable[where]}"
        if self.knob_models is not None:
            chosen = self.knob_models.get("vision" if knob.requires == "vision" else "text")
            if model.name != chosen:
                return (f"not applicable: knob {knob.name} is checked on {chosen} on this target (one model per architecture, "
                        f"matrix.yaml benchmarks.targets knob_models); {model.name} is not")
        return None

    def baseline(self, model: str, where: str) -> Baseline | None:
        return next((b for b in self.baselines if b.model == model and b.where == where), None)


def plan(matrix: Matrix, target: str) -> Plan:
    data = matrix.benchmarks
    where = f"{matrix.path}: benchmarks"
    if not data:
        raise MatrixError(f"{where}: missing; the perf suite needs the `benchmarks` section")
    if target not in data["targets"]:
        raise MatrixError(f"{where}.targets: no entry for target {target!r}; "
                          f"allowed values: {', '.join(data['targets'])}")
    row = data["targets"][target]
    profiles = data["profiles"]
    for key in ("profile", "tokenization_profile"):
        if row[key] not in profiles:
            raise MatrixError(f"{where}.targets.{target}.{key}: {row[key]!r} is not allowed; "
                              f"allowed values: {', '.join(profiles)}")
    knobs = tuple(Knob(k["name"], tuple(k.get("args", ())), dict(k.get("env", {})), k["guide"], k["promise"],
                       float(k["claimed_gain"]), k["gain_on"], k.get("requires"), dict(k["not_applicable"]),
                       k.get("measure", "output_throughput"))
                  for k in data["knobs"])
    return Plan(
        serve_args=tuple(data["serve_args"]),
        profile=Profile(row["profile"], **profiles[row["profile"]]),
        tokenization_profile=Profile(row["tokenization_profile"], **profiles[row["tokenization_profile"]]),
        models=None if row["models"] == "all" else tuple(row["models"]),
        knob_models=None if row["knob_models"] == "all" else dict(row["knob_models"]),
        throughput_gate=bool(row["throughput_gate"]),
        gain_tolerance=row["gain_tolerance"],
        knobs=knobs,
        baselines=tuple(Baseline(b["model"], b["where"], b["metric"], float(b["value"]), float(b["rtol"]),
                                 b["source"]) for b in data["baselines"]),
        tensor_parallel=_tensor_parallel(data.get("tensor_parallel")),
    )


def _tensor_parallel(row: dict | None) -> TensorParallel | None:
    if not row:
        return None
    return TensorParallel(row["name"], tuple(row["args"]), int(row["gpus"]), row["guide"], float(row["max_gain"]))


def serve(base_url: str, model_path: str, served_name: str, profile: Profile, seed: int = 0) -> dict:
    """Run vLLM's benchmark (`vllm bench serve`'s own code) against a running server; return its
    result dict and the console report it printed."""
    from vllm.benchmarks import serve as bench
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    bench.add_cli_args(parser)
    args = parser.parse_args([
        "--base-url", base_url, "--model", model_path, "--served-model-name", served_name,
        *profile.bench_args(), "--seed", str(seed), "--disable-tqdm",
        "--percentile-metrics", ",".join(LATENCIES), "--metric-percentiles", "50,99"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = bench.main(args)
    return {"result": result, "console": printed.getvalue()}


def figures(result: dict) -> dict:
    """The figures the sign-off keeps from vLLM's result dict (JSON-safe)."""
    out = {}
    for key in FIGURE_KEYS:
        value = result.get(key)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)  # numpy numbers do not cross xdist
        elif isinstance(value, numbers.Real):
            value = float(value) if math.isfinite(value) else None
        out[key] = value
    return out


def where(matrix: Matrix, target: str) -> str:
    """Where the run measures: the target for fixture weights, else the matrix GPU this machine has
    (`LFMC_GPU` overrides; nvidia-smi's name matched on the GPU key's words), else the target."""
    import os
    import re
    import subprocess

    if matrix.targets[target].weights == "fixture" or not matrix.targets[target].needs_gpu:
        return target  # fixtures, or real weights on a CPU target (cpu-hf)
    name = os.environ.get("LFMC_GPU", "")
    if not name:
        try:
            name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                  text=True, timeout=30).stdout.splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return target
    words = set(re.split(r"[^A-Za-z0-9]+", name.upper()))
    found = [g for g in matrix.gpus if g == name or set(g.upper().split("-")) <= words]
    return found[0] if found else target


def rejection(args: tuple[str, ...]) -> str | None:
    """vLLM's own server argument parser on `args`: None if accepted, else its error message."""
    try:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser
    except ModuleNotFoundError:  # vLLM before the launchers package (0.26 and older)
        from vllm.entrypoints.openai.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parser.parse_args(["--model", "model", *args])
    except SystemExit:
        return errors.getvalue().strip().splitlines()[-1] if errors.getvalue().strip() else "rejected"
    return None
