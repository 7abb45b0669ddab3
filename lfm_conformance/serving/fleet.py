"""The GPU fleet: the sign-off plan (every model x every GPU, each pair applicable or not with the
guide's reason) and the Modal runner that serves each applicable pair with deploy/modal_app.py, runs
the suites against it in remote mode, and merges the reports into one sign-off.

    python -m lfm_conformance.serving.fleet plan [--format table|json|github] [--backend modal|self-hosted]
    python -m lfm_conformance.serving.fleet run-pair --model M --gpu G --out DIR [--published-flags]
    python -m lfm_conformance.serving.fleet run --out DIR [--jobs 4] [--models ...] [--gpus ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import gpu as gpu_mod

ROOT = Path(__file__).resolve().parents[2]
MODAL_APP = ROOT / "deploy" / "modal_app.py"
HEALTH_TIMEOUT_S = 30 * 60  # a Modal cold start pulls the image and the weights
RUNNER_LABEL = "gpu-{gpu}"  # self-hosted runners carry [self-hosted, linux, gpu-<key in lower case>]


@dataclass(frozen=True)
class Pair:
    model: str
    hf_id: str
    gpu: str
    modal_gpu: str
    applicable: bool
    reason: str  # why not applicable ("" when applicable)
    args: tuple[str, ...]  # what the server gets after --model (the row's documented flags)
    env: dict

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.gpu}"

    @property
    def app_name(self) -> str:
        """A Modal app name per pair, so pairs deploy side by side (letters, digits, - . _; < 64)."""
        return f"lfmc-{self.slug}".lower()


def plan(matrix: matrix_mod.Matrix, models: list[str] | None = None, gpus: list[str] | None = None,
         published_flags: bool = False) -> list[Pair]:
    """Every (model, GPU) pair asked for, in matrix order, classified by gpu.select."""
    for names, known, what in ((models, matrix.models, "models"), (gpus, matrix.gpus, "gpus")):
        unknown = sorted(set(names or ()) - set(known))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not in {matrix.path} {what}; allowed values: {', '.join(known)}")
    fleet = gpu_mod.fleet(matrix)
    pairs = []
    for model in matrix.models.values():
        if models and model.name not in models:
            continue
        for key in matrix.gpus:
            if gpus and key not in gpus:
                continue
            host = gpu_mod.host_gpu(matrix, key)
            verdict = gpu_mod.select(matrix, model, host)
            config = gpu_mod.serve_config(matrix, matrix.serve_config(model, "gpu"), model, host)
            args = tuple(fleet.modal_app["published_args"]) if published_flags else config.args
            pairs.append(Pair(model.name, model.hf_id, key, fleet.modal[key], verdict.applicable, verdict.reason,
                              args, config.env))
    return pairs


def serve_spec(matrix: matrix_mod.Matrix, hf_id_or_name: str, gpu: str, published_flags: bool = False,
               vllm_version: str | None = None) -> dict:
    """What deploy/modal_app.py serves for MODEL (HF id or matrix name) and GPU: the vllm serve command,
    environment, Modal GPU string, image and app name. ValueError for a pair the guide does not support."""
    by_hf = {m.hf_id: m.name for m in matrix.models.values()}
    name = by_hf.get(hf_id_or_name, hf_id_or_name)
    if name not in matrix.models:
        raise ValueError(f"MODEL={hf_id_or_name!r}: not a matrix.yaml model; allowed values: {', '.join(by_hf)}")
    if gpu not in matrix.gpus:
        raise ValueError(f"GPU={gpu!r}: not a matrix.yaml GPU; allowed values: {', '.join(matrix.gpus)}")
    pair = plan(matrix, [name], [gpu], published_flags)[0]
    if not pair.applicable:
        raise ValueError(gpu_mod.NOT_APPLICABLE + pair.reason)
    fleet = gpu_mod.fleet(matrix)
    docker = fleet.docker
    tag = f"v{vllm_version}" if vllm_version else (docker["blackwell_tag"] if matrix.gpus[gpu].blackwell else docker["tag"])
    served = fleet.modal_app["served_name"]
    command = ["vllm", "serve", pair.hf_id, "--served-model-name", served, "--host", "0.0.0.0", "--port", "8000",
               *pair.args]
    return {"app": pair.app_name + ("-published" if published_flags else ""), "model": name, "gpu": gpu,
            "modal_gpu": pair.modal_gpu, "image": f"{docker['image']}:{tag}", "command": command,
            "env": pair.env, "served_name": served}


# -- running one pair on Modal -------------------------------------------------------------------
def pair_env(pair: Pair, published_flags: bool) -> dict:
    return {"MODEL": pair.hf_id, "GPU": pair.gpu, "PUBLISHED_FLAGS": "1" if published_flags else "0"}


def suite_command(pair: Pair, url: str, reports: Path, served_name: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The suites in remote mode against one pair's endpoint."""
    return [sys.executable, "-m", "pytest", "suites", "-p", "no:randomly", "--target", "gpu", "--gpu", pair.gpu,
            "--base-url", url, "--model", pair.model, "--served-model-name", served_name,
            f"--reports={reports}", f"--junitxml={reports / 'junit.xml'}", *extra]


def wait_healthy(url: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=60) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}/health not 200 after {timeout:.0f} s")
        time.sleep(10)


def web_url(app_name: str) -> str:
    import modal

    return modal.Function.from_name(app_name, "serve").get_web_url().rstrip("/")


def modal_cli(args: list[str], env: dict, log, check: bool = True) -> None:
    """`modal <args>` with the pair's environment (MODEL, GPU, PUBLISHED_FLAGS), output to the pair's log."""
    subprocess.run([sys.executable, "-m", "modal", *args], env=env, check=check, stdout=log,
                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)


def run_pair(matrix: matrix_mod.Matrix, pair: Pair, out: Path, published_flags: bool = False,
             extra: tuple[str, ...] = ()) -> Path:
    """Deploy the pair's Modal app, wait for /health, run the suites in remote mode, stop the app.
    Returns the pair's report folder (results.json there when the reports module wrote one)."""
    reports = out / pair.slug
    reports.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **pair_env(pair, published_flags)}
    spec = serve_spec(matrix, pair.hf_id, pair.gpu, published_flags)
    with open(reports / "modal.log", "w", encoding="utf-8") as log:
        try:
            modal_cli(["deploy", str(MODAL_APP)], env, log)
            url = web_url(spec["app"])
            wait_healthy(url)
            log.write(f"# suites against {url}\n")
            log.flush()
            subprocess.run(suite_command(pair, url, reports, spec["served_name"], extra), cwd=ROOT, stdout=log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            modal_cli(["app", "stop", "-y", spec["app"]], env, log, check=False)
    return reports


def merge_command(results: list[Path], out: Path) -> list[str]:
    return [sys.executable, "-m", "lfm_conformance.report.merge", *map(str, results), "--out", str(out)]


def run(matrix: matrix_mod.Matrix, pairs: list[Pair], out: Path, jobs: int = 4, published_flags: bool = False,
        extra: tuple[str, ...] = ()) -> int:
    """Every applicable pair in parallel, then one merged sign-off in out/signoff. The plan (with
    every not-applicable pair and its reason) is written to out/plan.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps([asdict(p) for p in pairs], indent=2))
    todo = [p for p in pairs if p.applicable]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        folders = list(pool.map(lambda p: _run_logged(matrix, p, out, published_flags, extra), todo))
    results = [f / "results.json" for f in folders if f is not None and (f / "results.json").exists()]
    missing = [p.slug for p, f in zip(todo, folders) if f is None or not (f / "results.json").exists()]
    for slug in missing:
        print(f"{slug}: no results.json (see {out / slug / 'modal.log'})", file=sys.stderr)
    if results:
        subprocess.run(merge_command(results, out / "signoff"), cwd=ROOT, check=True)
    return 1 if missing or not results else 0


def _run_logged(matrix, pair, out, published_flags, extra):
    try:
        return run_pair(matrix, pair, out, published_flags, extra)
    except (subprocess.CalledProcessError, TimeoutError, OSError) as exc:
        print(f"{pair.slug}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


# -- CLI ------------------------------------------------------------------------------------------
def github_matrix(matrix: matrix_mod.Matrix, pairs: list[Pair], backend: str) -> dict:
    """The nightly workflow's job matrix: Modal runs one job per applicable pair; self-hosted GPU
    runners run one job per GPU (the whole suite, not-applicable pairs reported as such)."""
    if backend == "modal":
        return {"include": [{"model": p.model, "gpu": p.gpu, "slug": p.slug, "runs-on": "ubuntu-latest"}
                            for p in pairs if p.applicable]}
    gpus = dict.fromkeys(p.gpu for p in pairs)
    return {"include": [{"gpu": g, "slug": g, "runs-on": ["self-hosted", "linux", RUNNER_LABEL.format(gpu=g.lower())]}
                        for g in gpus]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.serving.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default=str(matrix_mod.DEFAULT_MATRIX))
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_plan = sub.add_parser("plan", help="print the (model, GPU) plan")
    p_plan.add_argument("--format", choices=["table", "json", "github"], default="table")
    p_plan.add_argument("--backend", choices=["modal", "self-hosted"], default="modal")
    p_pair = sub.add_parser("run-pair", help="serve one pair on Modal and run the suites against it")
    p_pair.add_argument("--model", required=True)
    p_pair.add_argument("--gpu", required=True)
    p_run = sub.add_parser("run", help="every applicable pair on Modal in parallel, merged into one sign-off")
    p_run.add_argument("--jobs", type=int, default=4)
    for p in (p_plan, p_run):
        p.add_argument("--models", nargs="*", default=None)
        p.add_argument("--gpus", nargs="*", default=None)
    for p in (p_pair, p_run):
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--published-flags", action="store_true",
                       help="serve with the published lfm25-modal.py flags instead of the row's documented ones")
    args = parser.parse_args(argv)
    try:
        matrix = matrix_mod.load(args.matrix)
        if args.cmd == "run-pair":
            pairs = plan(matrix, [args.model], [args.gpu], args.published_flags)
        else:
            pairs = plan(matrix, args.models, args.gpus, getattr(args, "published_flags", False))
    except (matrix_mod.MatrixError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "plan":
        if args.format == "json":
            print(json.dumps([asdict(p) for p in pairs], indent=2))
        elif args.format == "github":
            print(json.dumps(github_matrix(matrix, pairs, args.backend)))
        else:
            for p in pairs:
                state = "run" if p.applicable else f"n/a: {p.reason}"
                print(f"{p.model:24} {p.gpu:10} {p.modal_gpu:10} {state}")
        return 0
    if args.cmd == "run-pair":
        pair = pairs[0]
        if not pair.applicable:
            print(f"error: {gpu_mod.NOT_APPLICABLE}{pair.reason}", file=sys.stderr)
            return 2
        folder = run_pair(matrix, pair, args.out, args.published_flags)
        return 0 if (folder / "results.json").exists() else 1
    return run(matrix, pairs, args.out, args.jobs, args.published_flags)


if __name__ == "__main__":
    sys.exit(main())
