"""Serve one matrix.yaml row on one GPU on Modal, as the guide's lfm25-modal.py does, but with that
row's documented flags (and its Blackwell environment) from matrix.yaml.

    MODEL=LiquidAI/LFM2.5-8B-A1B GPU=H100 modal deploy deploy/modal_app.py

MODEL: HF id or matrix model name (default LiquidAI/LFM2.5-1.2B-Instruct); GPU: matrix GPU key
(default L4); PUBLISHED_FLAGS=1 serves with the published script's flags instead (tool flags on
every model, never the reasoning parser), so the suites can show what that changes; VLLM_VERSION pins
the vllm/vllm-openai image tag (v<version>; default latest, latest-cu130 on Blackwell). The model is
served as `llm` on port 8000. Nothing here contacts Modal at import; the spec is computed locally
from matrix.yaml and handed to the container in its image environment.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import modal

MINUTES = 60
PORT = 8000

if modal.is_local():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from lfm_conformance.data import matrix
    from lfm_conformance.serving import fleet

    SPEC = fleet.serve_spec(matrix.load(), os.environ.get("MODEL", "LiquidAI/LFM2.5-1.2B-Instruct"),
                            os.environ.get("GPU", "L4"), os.environ.get("PUBLISHED_FLAGS") == "1",
                            os.environ.get("VLLM_VERSION") or None)
else:  # inside the container: the spec the deploying machine computed
    SPEC = json.loads(os.environ["LFMC_SERVE_SPEC"])

image = (
    modal.Image.from_registry(SPEC["image"])
    .entrypoint([])
    .env({"LFMC_SERVE_SPEC": json.dumps(SPEC), "HF_XET_HIGH_PERFORMANCE": "1", **SPEC["env"]})
)
hf_cache = modal.Volume.from_name("huggingface-cache", create_if_missing=True)
vllm_cache = modal.Volume.from_name("vllm-cache", create_if_missing=True)
app = modal.App(SPEC["app"])


@app.function(
    image=image,
    gpu=SPEC["modal_gpu"],
    scaledown_window=15 * MINUTES,
    timeout=60 * MINUTES,
    volumes={"/root/.cache/huggingface": hf_cache, "/root/.cache/vllm": vllm_cache},
    # HF_TOKEN by name from the deploying environment (the LFM2.5 weights are public; it lifts rate limits)
    secrets=[modal.Secret.from_dict({"HF_TOKEN": os.environ["HF_TOKEN"]})] if os.environ.get("HF_TOKEN") else [],
)
@modal.concurrent(max_inputs=100)
@modal.web_server(port=PORT, startup_timeout=20 * MINUTES)
def serve():
    print(*SPEC["command"], flush=True)
    subprocess.Popen(SPEC["command"])
