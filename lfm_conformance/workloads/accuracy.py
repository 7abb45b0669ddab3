"""Accuracy baselines (matrix.yaml `accuracy`) measured by lm-eval, through its own OpenAI-compatible
backends, against a running vLLM server: local-chat-completions when the chat template applies (its
multimodal path carries a task's images as image_url parts), local-completions when it does not.
lm-eval does all prompting, answer extraction and scoring; this module only wires it to the server."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BUNDLED_TASKS = Path(__file__).resolve().parents[2] / "suites" / "accuracy_tasks"
LOCAL_BUILDERS = ("json", "csv", "parquet", "text", "arrow")  # datasets builders that read local files
OFFLINE_ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
NUM_CONCURRENT = 2


class AccuracyError(Exception):
    """lm-eval cannot run the baseline as configured (unknown task, a download while offline, a tokenizer
    that cannot load...): the suite's own error (ERROR), never a verdict on the server."""


@dataclass(frozen=True)
class Baseline:
    """One matrix.yaml `accuracy` entry: a task's metric for one model on one target."""

    model: str
    target: str
    task: str
    metric: str  # lm-eval's "metric,filter" key, e.g. "exact_match,strict-match"
    expected: float | None  # None: pending a reference run
    rtol: float
    limit: int | None
    num_fewshot: int
    chat_template: bool
    baseline_source: str
    review_margin: float
    offline: bool
    max_gen_toks: int | None = None

    @property
    def backend(self) -> str:
        return "local-chat-completions" if self.chat_template else "local-completions"


def baselines(matrix, target: str) -> list[Baseline]:
    section = matrix.accuracy.get(target) or {}
    return [
        Baseline(model=model, target=target, review_margin=float(section["review_margin"]),
                 offline=bool(section["offline"]), **entry)
        for model, entries in (section.get("models") or {}).items()
        for entry in entries
    ]


def task_names(matrix, target: str) -> list[str]:
    """Every task with a baseline on this target, in matrix order (the test's parameter)."""
    return list(dict.fromkeys(b.task for b in baselines(matrix, target)))


def baseline_for(matrix, target: str, model: str, task: str) -> Baseline | None:
    return next((b for b in baselines(matrix, target) if b.model == model and b.task == task), None)


def generation_kwargs(baseline: Baseline, preset: dict) -> dict:
    """lm-eval gen_kwargs for generative tasks: the model's sampling preset."""
    out = {**preset, "do_sample": preset.get("temperature", 0) > 0}
    if baseline.max_gen_toks:
        out["max_gen_toks"] = baseline.max_gen_toks
    return out


def record_command(baseline: Baseline, served_model: str, preset: dict, base_url: str = "http://127.0.0.1:8000") -> str:
    """The lm-eval command line that measures a baseline against a server serving `served_model`."""
    path = "/v1/chat/completions" if baseline.chat_template else "/v1/completions"
    args = f"model={served_model},base_url={base_url}{path},num_concurrent=8,tokenized_requests=False"
    if not baseline.chat_template:
        args += f",tokenizer={served_model}"
    return " ".join(["lm_eval --model", baseline.backend, "--model_args", args, "--tasks", baseline.task,
                     "--num_fewshot", str(baseline.num_fewshot)]
                    + (["--limit", str(baseline.limit)] if baseline.limit else [])
                    + (["--apply_chat_template"] if baseline.chat_template else [])
                    + ["--gen_kwargs", ",".join(f"{k}={v}" for k, v in generation_kwargs(baseline, preset).items())])


@dataclass(frozen=True)
class Measurement:
    results: dict  # lm-eval's results dict (results, n-samples, configs, ...)
    wall_s: float


def measure(baseline: Baseline, *, base_url: str, served_model: str, preset: dict,
            tokenizer: str | None = None, api_key: str | None = None) -> Measurement:
    """Run the baseline's task with lm-eval against the server at base_url (http://host:port).
    Generative tasks sample with the model's preset (lm-eval sends its fields in each request).
    `tokenizer` (an HF name or a local folder) is for local-completions (no chat template), as
    record_command passes it; it is loaded first, so that one that cannot load says so."""
    import time

    manager = check_task(baseline)
    if tokenizer:
        check_tokenizer(baseline, tokenizer)
    from lm_eval import simple_evaluate

    path = "/v1/chat/completions" if baseline.chat_template else "/v1/completions"
    model_args = {"model": served_model, "base_url": base_url.rstrip("/") + path, "num_concurrent": NUM_CONCURRENT,
                  "max_retries": 2, "tokenized_requests": False,
                  "tokenizer_backend": "huggingface" if tokenizer else "none"}
    if tokenizer:
        model_args["tokenizer"] = tokenizer
    if api_key:
        model_args["header"] = {"Authorization": f"Bearer {api_key}"}
    gen_kwargs = generation_kwargs(baseline, preset)
    started = time.monotonic()
    try:
        with offline(baseline.offline):
            results = simple_evaluate(
            model=baseline.backend, model_args=model_args, tasks=[baseline.task], num_fewshot=baseline.num_fewshot,
            limit=baseline.limit, apply_chat_template=baseline.chat_template, gen_kwargs=gen_kwargs,
            task_manager=manager, log_samples=True, bootstrap_iters=0,
            )
    except (ConnectionError, OSError) as exc:
        if baseline.offline and _is_offline_refusal(exc):
            raise AccuracyError(_offline_message(baseline, str(exc))) from None
        raise
    if results is None:
        raise AccuracyError(f"lm-eval returned no results for task {baseline.task!r}")
    return Measurement(results, time.monotonic() - started)


def check_task(baseline: Baseline):
    """lm-eval's TaskManager for the baseline's task, once the task is known to exist and, offline,
    to read only local files (raises AccuracyError otherwise)."""
    with offline(baseline.offline):
        manager = task_manager(include_defaults=not (BUNDLED_TASKS / f"{baseline.task}.yaml").exists())
        check_offline_data(manager, baseline)
    return manager


def check_tokenizer(baseline: Baseline, tokenizer: str) -> None:
    """The tokenizer lm-eval will load (transformers, as lm-eval's huggingface backend does) loads here;
    AccuracyError naming it otherwise (not a missing task download: the task may be bundled)."""
    import transformers

    try:
        with offline(baseline.offline):
            transformers.AutoTokenizer.from_pretrained(tokenizer)
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported as such, with its cause
        raise AccuracyError(f"the tokenizer lm-eval needs for task {baseline.task!r} ({baseline.backend}), "
                            f"{tokenizer!r}, cannot be loaded: {type(exc).__name__}: {str(exc)[:300]}") from None


@lru_cache(maxsize=2)
def task_manager(include_defaults: bool):
    """lm-eval's TaskManager over the bundled tasks (plus lm-eval's own ones when needed)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(BUNDLED_TASKS), include_defaults=include_defaults)


def check_offline_data(manager, baseline: Baseline) -> None:
    """Before anything runs: the task exists, and offline, none of its datasets needs a download."""
    entry = manager.task_index.get(baseline.task)
    if entry is None:
        raise AccuracyError(f"matrix.yaml accuracy.{baseline.target}.models.{baseline.model}: lm-eval has no task "
                            f"{baseline.task!r} (looked in {BUNDLED_TASKS} and lm-eval's own tasks)")
    if not baseline.offline:
        return
    for name, dataset in remote_datasets(manager, baseline.task):
        raise AccuracyError(_offline_message(baseline, f"task {name!r} reads dataset {dataset!r} from the Hub"))


def remote_datasets(manager, name: str, seen=None) -> list[tuple[str, str]]:
    """(task, dataset_path) for every leaf task under `name` whose data is not local files."""
    seen = seen if seen is not None else set()
    if name in seen:
        return []
    seen.add(name)
    entry = manager.task_index.get(name)
    cfg = _config(entry)
    if cfg is None:
        return []
    children = cfg.get("task") if "group" in cfg else None
    if isinstance(children, list):
        found = []
        for child in children:
            child_name = child if isinstance(child, str) else (child or {}).get("task")
            if isinstance(child_name, str):
                found += remote_datasets(manager, child_name, seen)
        return found
    if cfg.get("custom_dataset"):
        return []
    dataset = cfg.get("dataset_path")
    if dataset in LOCAL_BUILDERS:
        files = (cfg.get("dataset_kwargs") or {}).get("data_files")
        paths = files.values() if isinstance(files, dict) else ([files] if isinstance(files, str) else files or [])
        if all(isinstance(p, str) and "://" not in p and not p.startswith("hf:") for p in paths):
            return []
    return [(name, str(dataset))] if dataset else []


def _config(entry) -> dict | None:
    if entry is None:
        return None
    if entry.yaml_path is not None:
        from lm_eval.tasks._yaml_loader import load_yaml

        return load_yaml(entry.yaml_path, resolve_func=False)
    return entry.cfg


@contextlib.contextmanager
def offline(enabled: bool = True):
    """While inside: HF datasets / hub / transformers offline. They read their switches at import, so
    the environment and the already-imported modules' flags are set, and both are put back on exit
    (nothing stays offline in the worker afterwards)."""
    if not enabled:
        yield
        return
    import sys

    saved_env = {k: os.environ.get(k) for k in OFFLINE_ENV}
    flags = []  # (module, attribute, old value)
    os.environ.update(OFFLINE_ENV)
    if "datasets" in sys.modules:
        import datasets.config

        flags += [(datasets.config, "HF_DATASETS_OFFLINE"), (datasets.config, "HF_HUB_OFFLINE")]
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants

        flags += [(huggingface_hub.constants, "HF_HUB_OFFLINE")]
    saved_flags = [(mod, name, getattr(mod, name, None)) for mod, name in flags]
    for mod, name in flags:
        setattr(mod, name, True)
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for mod, name, value in saved_flags:
            setattr(mod, name, value)


def _is_offline_refusal(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return "offline" in text or "huggingface.co" in text  # not the server: its errors name 127.0.0.1


def _offline_message(baseline: Baseline, detail: str) -> str:
    return (f"lm-eval task {baseline.task!r} would need a download ({detail}), but accuracy on target "
            f"{baseline.target!r} runs offline (matrix.yaml accuracy.{baseline.target}.offline: true; "
            f"HF_DATASETS_OFFLINE=1). Use a bundled task (task YAML + local JSONL in {BUNDLED_TASKS}) "
            f"or run it on a target that may download")
