"""The guide's Docker deployment for any matrix row on any matrix GPU:
`docker run ... vllm/vllm-openai:<tag> --model <hf id> --host 0.0.0.0 --port 8000 <the row's flags>`.

    python -m lfm_conformance.serving.docker --model LFM2.5-8B-A1B --gpu B200

prints the command; run it where Docker and the GPU are, then point the suite at it with
`--base-url http://127.0.0.1:8000 --model LFM2.5-8B-A1B --target gpu --gpu B200`."""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import gpu as gpu_mod

PORT = 8000
HF_CACHE = "~/.cache/huggingface"  # the guide's mount source


CONTAINER = "lfm2.5"  # the guide's name: one deployment per host, as the guide runs it


def image(matrix: matrix_mod.Matrix, gpu: str) -> str:
    """vllm/vllm-openai:latest, or :latest-cu130 on a Blackwell GPU (the guide's two pulls)."""
    docker = gpu_mod.fleet(matrix).docker
    tag = docker["blackwell_tag"] if matrix.gpus[gpu].blackwell else docker["tag"]
    return f"{docker['image']}:{tag}"


def command(matrix: matrix_mod.Matrix, model_name: str, gpu: str, *, port: int = PORT,
            hf_cache: str = HF_CACHE, served_name: str | None = None) -> list[str]:
    """The `docker run` argument list for one (model, GPU) pair; ValueError (one line) for an unknown
    name or a pair the guide does not support. The guide's line with only the row's documented
    changes (image tag, model, flags, Blackwell environment): suites/test_guide_data.py checks it."""
    if model_name not in matrix.models:
        raise ValueError(f"--model {model_name!r}: not in {matrix.path} models; allowed values: {', '.join(matrix.models)}")
    if gpu not in matrix.gpus:
        raise ValueError(f"--gpu {gpu!r}: not in {matrix.path} gpus; allowed values: {', '.join(matrix.gpus)}")
    model = matrix.models[model_name]
    host_gpu = gpu_mod.host_gpu(matrix, gpu)
    verdict = gpu_mod.select(matrix, model, host_gpu)
    if not verdict.applicable:
        raise ValueError(gpu_mod.NOT_APPLICABLE + verdict.reason)
    config = gpu_mod.serve_config(matrix, matrix.serve_config(model, "gpu"), model, host_gpu)
    cmd = ["docker", "run", "-itd", "--name", CONTAINER,
           "--ipc=host", "--network", "host", "--shm-size", "16G", "--gpus", "all",
           "-v", f"{os.path.expanduser(hf_cache)}:/root/.cache/huggingface"]
    for key, value in sorted(config.env.items()):
        cmd += ["-e", f"{key}={value}"]
    cmd += [image(matrix, gpu), "--model", model.hf_id]
    if served_name:
        cmd += ["--served-model-name", served_name]
    return cmd + ["--host", "0.0.0.0", "--port", str(port), *config.args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.serving.docker", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="matrix.yaml model, e.g. LFM2.5-1.2B-Instruct")
    parser.add_argument("--gpu", required=True, help="matrix.yaml GPU key, e.g. H100")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--matrix", default=str(matrix_mod.DEFAULT_MATRIX))
    args = parser.parse_args(argv)
    try:
        matrix = matrix_mod.load(args.matrix)
        cmd = command(matrix, args.model, args.gpu, port=args.port, served_name=args.served_model_name)
    except (matrix_mod.MatrixError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(shlex.join(cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
