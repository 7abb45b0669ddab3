"""Load and validate matrix.yaml: models, GPUs, targets, flag sets, fixtures."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from lfm_conformance.data import schema

SCHEMA_PATH = Path(__file__).with_name("matrix.schema.json")
DEFAULT_MATRIX = Path(__file__).resolve().parents[2] / "matrix.yaml"
CAPABILITIES = ("chat", "tools", "reasoning", "completions", "vision")


class MatrixError(Exception):
    """matrix.yaml is unreadable or invalid; the message is one line naming file and path."""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    weights: str  # "fixture" (CPU stand-ins) or "hf" (real weights)
    serve_args: tuple[str, ...]
    env: dict
    startup_timeout_s: float
    logprob_tolerance: float  # max |served - reference| per-token logprob (nats) in the numerics check
    device: str = "cpu"  # "cpu" or "gpu": where the servers run (a gpu target needs a GPU on the host)
    not_applicable: dict = field(default_factory=dict)  # model name -> why this target does not run it

    @property
    def needs_gpu(self) -> bool:
        return self.device == "gpu"


@dataclass(frozen=True)
class VllmVersion:
    """One release of the version matrix (matrix.yaml vllm.versions)."""

    version: str
    cpu_shim: str | None  # sitecustomize the cpu target's servers load (lfm_conformance/serving/cpu_shims)
    ci: bool  # in the two-version selection of ./run tests


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float
    blackwell: bool


@dataclass(frozen=True)
class Model:
    name: str
    hf_id: str
    architecture: str
    marker: str
    parameters: str
    context: int
    min_gpu_memory_gb: float
    capabilities: tuple[str, ...]
    flag_sets: tuple[str, ...]
    serve_flags: tuple[str, ...]
    preset: dict
    gpus: tuple[str, ...]
    blackwell_env: dict
    fixture: str

    def has(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class ServeConfig:
    """One vLLM server: what it serves, under which names, with which arguments."""

    name: str  # readable and unique, e.g. "cpu-dense-chat+tool_calling"; names the log file
    target: Target
    source: str  # fixture name (weights == "fixture") or HF id
    served_names: tuple[str, ...]
    args: tuple[str, ...]  # everything after --model/--served-model-name
    env: dict = field(default_factory=dict)
    variant: str | None = None  # fixture variant (e.g. "live-attention"); None for real weights

    @property
    def key(self) -> str:
        return self.name


@dataclass
class Matrix:
    path: Path
    sha256: str
    min_vllm_version: str
    targets: dict[str, Target]
    gpus: dict[str, Gpu]
    models: dict[str, Model]
    fixtures: dict[str, dict]
    flag_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    benchmarks: dict = field(default_factory=dict)  # the `benchmarks` section, read by lfm_conformance/workloads/benchmarks.py
    accuracy: dict = field(default_factory=dict)  # matrix.yaml `accuracy`, read by lfm_conformance/workloads/accuracy.py
    vllm_versions: dict[str, VllmVersion] = field(default_factory=dict)  # the version matrix, as listed
    vllm_ci_selection: str = ""  # the marker expression ./run tests runs on the other `ci: true` versions

    def markers(self) -> dict[str, str]:
        """Every marker the matrix defines, with its help text."""
        found: dict[str, str] = {}
        for model in self.models.values():
            names = found.get(model.marker, "")
            found[model.marker] = f"{names}, {model.name}".lstrip(", ")
        out = {m: f"models: {names}" for m, names in found.items()}
        for cap in CAPABILITIES:
            out[cap] = f"models with capability '{cap}'"
        return out

    def serve_config(self, model: Model, target_name: str, extra_args: tuple[str, ...] = (),
                     drop_flag_sets: tuple[str, ...] = (), variant: str | None = None,
                     extra_env: dict | None = None, per_architecture: bool = False) -> ServeConfig:
        """The server a model runs on: its documented flags (minus `drop_flag_sets`, for checks of
        what a flag changes), `extra_args`, then the target's arguments; `extra_env` on top of the target's
        environment (e.g. a speed-of-light knob). On fixture targets, models
        sharing a fixture and flags share one server (served under each model's HF id), and a fixture
        variant runs once per architecture; with real weights every model has its own."""
        target = self.targets[target_name]
        flag_sets = tuple(s for s in model.flag_sets if s not in drop_flag_sets)
        flags = tuple(a for s in flag_sets for a in self.flag_sets[s])
        args = flags + tuple(extra_args) + target.serve_args
        suffix = "".join(f"+{s}" for s in flag_sets) + "".join(f"-{s}" for s in drop_flag_sets
                                                               if s in model.flag_sets)
        suffix += _args_suffix(tuple(extra_args))
        suffix += "".join(f"+env={k}={v}" for k, v in sorted((extra_env or {}).items()))
        env = {**target.env, **(extra_env or {})}
        if target.weights == "fixture" and (variant or per_architecture):
            # A fixture variant (numerics: vLLM's kernels vs transformers), or a check of what a flag
            # does that no documented flag set or taught weight changes (`per_architecture`, e.g. a
            # lowered --max-model-len), is a property of the architecture: one server per architecture,
            # on the first such model's fixture, serving every model of it.
            peers = [m for m in self.models.values() if m.architecture == model.architecture]
            name = f"{target_name}-{model.architecture}{_args_suffix(tuple(extra_args))}"
            name += "".join(f"+env={k}={v}" for k, v in sorted((extra_env or {}).items()))
            return ServeConfig(name=name + (f"+variant={variant}" if variant else ""), target=target,
                               source=peers[0].fixture, served_names=tuple(m.hf_id for m in peers),
                               args=tuple(extra_args) + target.serve_args, env=env, variant=variant)
        if target.weights == "fixture":
            peers = [m.hf_id for m in self.models.values() if m.fixture == model.fixture and m.flag_sets == model.flag_sets]
            return ServeConfig(name=f"{target_name}-{model.fixture}{suffix}", target=target, source=model.fixture,
                               served_names=tuple(peers), args=args, env=env, variant=variant)
        return ServeConfig(name=f"{target_name}-{model.name}{suffix}", target=target, source=model.hf_id,
                           served_names=(model.hf_id,), args=args, env=env)


# -- real weights from the local Hugging Face cache (weights: hf) ----------------------------------
# A stand-in cache (fixtures/standin_cache.py) holds this file at its top: the run is the real-weights
# path with stand-in weights, and the report says so (no check reads it).
STANDIN_MARKER = "lfm-conformance-standin.json"


class SnapshotMissing(MatrixError):
    """A real-weights target's model is not in the local Hugging Face cache; one line with the command."""


def hub_environ(target: Target, environ=None) -> dict:
    """The environment a target's servers run with (this process's, then the target's `env`): the one
    every in-process loader of the same weights must resolve the hub cache from too."""
    import os

    return {**(os.environ if environ is None else environ), **target.env}


def hub_cache(target: Target, environ=None) -> Path:
    """The Hugging Face hub cache a target's servers read, as huggingface_hub resolves it: HF_HUB_CACHE
    (or the older HUGGINGFACE_HUB_CACHE), else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub."""
    env = hub_environ(target, environ)
    found = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if found:
        return Path(found).expanduser()
    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    return Path(home).expanduser() / "hub"


def hub_snapshot(target: Target, hf_id: str, environ=None) -> Path:
    """The local snapshot folder of `hf_id` (revision refs/main) in the target's hub cache, resolved by
    huggingface_hub itself, offline; SnapshotMissing (one line: the id, the cache, the download
    command) when it is not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = hub_cache(target, environ)
    try:
        path = Path(snapshot_download(hf_id, cache_dir=str(cache), local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        path = None
    if path is None or not (path / "config.json").is_file():
        raise SnapshotMissing(
            f"target {target.name}: {hf_id} is not in the Hugging Face cache {cache} (no snapshot with a config.json "
            f"for refs/main); download it first: `hf download {hf_id}` (or `huggingface-cli download {hf_id}`), "
            f"with HF_HUB_CACHE/HF_HOME as the run sees them")
    return path


def standin_marker(target: Target, environ=None) -> dict | None:
    """The stand-in marker of the target's hub cache (fixtures/standin_cache.py), or None for a real cache."""
    try:
        return json.loads((hub_cache(target, environ) / STANDIN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def local_weights(config: ServeConfig, model_path: str | None = None, environ=None) -> str:
    """Where in-process loaders (transformers, vLLM's tokenizer) find the weights a server serves: its
    model path for fixtures (`model_path`, else the source), the hub cache snapshot for real weights."""
    if config.target.weights == "fixture":
        return model_path or config.source
    try:
        return str(hub_snapshot(config.target, config.source, environ))
    except SnapshotMissing:
        if hub_offline(config.target, environ):
            raise
        return config.source  # online: the loader resolves (and may download) the hub id itself


def hub_offline(target: Target, environ=None) -> bool:
    """Whether the target's servers load offline (HF_HUB_OFFLINE in their environment)."""
    return hub_environ(target, environ).get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _args_suffix(args: tuple[str, ...]) -> str:
    """Config-name suffix for extra arguments: `+flag=value`, or `+flag` for a flag without a value
    (e.g. --no-enable-prefix-caching)."""
    out, i = "", 0
    while i < len(args):
        name = args[i].lstrip("-")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out, i = out + f"+{name}={args[i + 1]}", i + 2
        else:
            out, i = out + f"+{name}", i + 1
    return out


def _schema_for(data: dict) -> dict:
    """The static schema with the cross-reference enums (GPU, fixture, flag-set names) filled in
    from the file itself, so an unknown name is reported with the allowed values."""
    schema = json.loads(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    for def_name, key in (("gpu_name", "gpus"), ("fixture_name", "fixtures"), ("flag_set_name", "flag_sets"),
                         ("target_name", "targets"), ("model_name", "models")):
        names = sorted(data.get(key) or {}) if isinstance(data.get(key), dict) else []
        defs[def_name] = {"enum": names}
    defs["bench_on"] = {"enum": defs["target_name"]["enum"] + defs["gpu_name"]["enum"]}
    return schema


def validate(data, source: str) -> None:
    if not isinstance(data, dict):
        raise MatrixError(f"{source}: (top level): expected a mapping, got {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(_schema_for(data))
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MatrixError(f"{source}: {schema.where(best.absolute_path)}: {schema.describe(best)}{more}")
    listed = [v["version"] for v in data["vllm"].get("versions", [])]
    for version in {v for v in listed if listed.count(v) > 1}:
        raise MatrixError(f"{source}: vllm.versions: {version} is listed {listed.count(version)} times")
    for name, row in data["models"].items():  # the schema's `^model_` marker pattern keeps markers apart from capabilities
        if "completions" in row["capabilities"] and "chat" in row["capabilities"]:
            raise MatrixError(f"{source}: models.{name}.capabilities: 'completions' (completions-only) "
                              f"excludes 'chat'")
        fixture_arch = data["fixtures"][row["fixture"]]["architecture"]
        if fixture_arch != row["architecture"]:
            raise MatrixError(f"{source}: models.{name}.fixture: {row['fixture']!r} is a {fixture_arch}; "
                              f"the model is a {row['architecture']}")


def load(path: Path | str = DEFAULT_MATRIX) -> Matrix:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MatrixError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown position)"
        raise MatrixError(f"{path}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    validate(data, str(path))
    data = copy.deepcopy(data)
    flag_sets = data["flag_sets"]
    return Matrix(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        min_vllm_version=data["vllm"]["min_version"],
        targets={
            n: Target(n, t["description"], t["weights"], tuple(t["serve_args"]), dict(t["env"]),
                      float(t["startup_timeout_s"]), float(t["logprob_tolerance"]), t["device"],
                      dict(t.get("not_applicable") or {}))
            for n, t in data["targets"].items()
        },
        gpus={n: Gpu(n, g["memory_gb"], g["blackwell"]) for n, g in data["gpus"].items()},
        models={
            n: Model(
                name=n, hf_id=m["hf_id"], architecture=m["architecture"], marker=m["marker"],
                parameters=m["parameters"], context=m["context"], min_gpu_memory_gb=m["min_gpu_memory_gb"],
                capabilities=tuple(m["capabilities"]), flag_sets=tuple(m["flag_sets"]),
                serve_flags=tuple(a for s in m["flag_sets"] for a in flag_sets[s]),
                preset=dict(m["preset"]), gpus=tuple(m["gpus"]), blackwell_env=dict(m["blackwell_env"]),
                fixture=m["fixture"],
            )
            for n, m in data["models"].items()
        },
        fixtures=data["fixtures"],
        flag_sets={name: tuple(args) for name, args in flag_sets.items()},
        benchmarks=data.get("benchmarks") or {},
        accuracy=data.get("accuracy") or {},
        vllm_versions={v["version"]: VllmVersion(v["version"], v.get("cpu_shim"), bool(v.get("ci")))
                       for v in data["vllm"].get("versions", [])},
        vllm_ci_selection=data["vllm"].get("ci_selection", ""),
    )
