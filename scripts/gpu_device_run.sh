#!/usr/bin/env bash
# Runs on the borrowed GPU machine (see scripts/gpu_device_prepare.sh, which packs what this unpacks):
#   bash scripts/gpu_device_run.sh part N   unpack .whl/partN into $SITE (one call per part, back to back)
#   bash scripts/gpu_device_run.sh run      unpack any part not yet unpacked, check the environment, start
#                                           one server as a smoke test (falling back to another attention
#                                           backend if the first fails), then the real-weights path with
#                                           stand-in weights (--target gpu on a hub cache built from the
#                                           carried fixtures, fixtures/standin_cache.py; one worker: the gpu
#                                           target's servers take the GPU's memory), then --target gpu-fixture
# Everything it reports goes to $OUT (at most 8 files): run.log, env.txt, results*.json, signoff*.md,
# reports.tar.gz (both report folders with server logs and junit.xml).
set -uo pipefail
cd "$(dirname "$0")/.."
SITE=${SITE:-/tmp/lfmc-site}
OUT=${OUT:-/tmp/lfmc-out}
MARKERS=${MARKERS:-model_230m or model_1_2b}                  # first pytest run: the brief's smallest models
EXTRA_MARKERS=${EXTRA_MARKERS-model_8b_a1b or model_vl_450m}  # second run if time is left ("" = none)
WORKERS=${WORKERS:-6}
BUDGET_S=${BUDGET_S:-420}      # the whole `run` call; pytest runs are cut (SIGTERM, results kept) to fit
EXTRA_MIN_S=${EXTRA_MIN_S:-150} # the second run starts only with this much left
STANDIN_MARKERS=${STANDIN_MARKERS-model_230m}  # the hf path first, on stand-ins ("" = skip it)
STANDIN_MAX_S=${STANDIN_MAX_S:-150}            # at most this long, so the fixture runs keep their time
START=$SECONDS
mkdir -p "$OUT" "$SITE"

unpack() {  # unpack part $1 into $SITE once; its archives' sha256 checked first
  local d=.whl/part$1
  [ -f "$SITE/.part$1" ] && { echo "part $1: already unpacked"; return 0; }
  [ -f "$d/MANIFEST.json" ] || { echo "part $1: MISSING ($d not here: send it again with carry [\"$d\"])"; return 1; }
  python3 - "$d" <<'EOF' || return 1
import hashlib, json, sys
from pathlib import Path
d = Path(sys.argv[1]); part = int(d.name[4:])
entry = json.loads((d / "MANIFEST.json").read_text())["parts"][part - 1]
for name, digest in entry["files"].items():
    if hashlib.sha256((d / name).read_bytes()).hexdigest() != digest:
        sys.exit(f"part {part}: {name} is corrupt (sha256 differs): send it again")
EOF
  for a in "$d"/*.tar.*; do tar -xf "$a" -C "$SITE" || { echo "part $1: $a did not unpack"; return 1; }; done
  python3 -m compileall -q -j 0 "$SITE" > /dev/null 2>&1  # byte-code now, not in the timed run (already compiled: skipped)
  touch "$SITE/.part$1"
  echo "part $1: unpacked in $((SECONDS - START)) s ($(du -sm "$SITE" | cut -f1) MiB in $SITE)"
}

parts_count() { python3 -c "import json,glob; print(json.load(open(sorted(glob.glob('.whl/part*/MANIFEST.json'))[0]))['count'])" 2>/dev/null; }

case "${1:-}" in
  part)
    [ "$2" = 1 ] && { nvidia-smi -L; python3 -c "import sys, torch, transformers; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"; }
    unpack "$2"; rc=$?
    n=$(parts_count); for i in $(seq 1 "${n:-0}"); do [ -f "$SITE/.part$i" ] && echo "have part $i" || echo "need part $i"; done
    df -h /tmp | tail -n 1
    exit $rc ;;
  run) ;;
  *) echo "usage: $0 part N | run" >&2; exit 2 ;;
esac

exec > >(tee "$OUT/run.log") 2>&1
n=$(parts_count)
[ -n "$n" ] || { echo "no .whl/part*/MANIFEST.json here: carry the parts first"; exit 1; }
missing=0
for i in $(seq 1 "$n"); do unpack "$i" || missing=1; done
[ "$missing" = 0 ] || { echo "STOP: parts missing (a fresh machine?); send them again, then this call"; exit 1; }
[ -d .lfmc/fixtures ] || { echo "STOP: .lfmc/fixtures not here; carry .lfmc"; exit 1; }

export PYTHONPATH=$SITE LFMC_HOME=$PWD/.lfmc PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
# flashinfer is not carried (0.6 GB): vLLM's sampler would import it on CUDA unless told not to.
export VLLM_USE_FLASHINFER_SAMPLER=0

{
  nvidia-smi
  python3 - <<'EOF'
import importlib.metadata as md, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("vllm", "torch", "transformers", "tokenizers", "triton", "numpy", "numba", "protobuf", "setuptools",
             "opencv-python-headless", "pytest", "pytest-xdist", "openai", "jsonschema", "pydantic", "fastapi",
             "xgrammar", "apache-tvm-ffi", "huggingface-hub", "safetensors", "pillow", "pyyaml", "httpx"):
    try:
        print(f"{name}=={md.version(name)}  ({md.distribution(name).locate_file('')})")
    except md.PackageNotFoundError:
        print(f"{name}: MISSING")
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
  python3 -m pip list 2>/dev/null
} > "$OUT/env.txt" 2>&1
grep -E "^(vllm|torch|transformers|triton|pytest|cuda|python)" "$OUT/env.txt"
python3 -c "import vllm.vllm_flash_attn, vllm._C, vllm._moe_C; print('vllm CUDA extensions load')" 2>&1 | tail -n 3

# Smoke test: one server of the 230M model through the suite's own VllmServer, greedy chat + tool call.
# If the target's arguments fail, try FLEX_ATTENTION instead of TRITON_ATTN; the first that works is
# what the suites run with (through a derived matrix file, named in the log), else stop here.
MATRIX=matrix.yaml
[ "${SMOKE:-1}" = 0 ] && echo "no smoke test (SMOKE=0: dry runs without a GPU)" || python3 - "$OUT" <<'EOF'
import dataclasses, json, sys, time
from pathlib import Path
import yaml
from fixtures import build
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving.server import ServerError, VllmServer

out = Path(sys.argv[1])
m = matrix_mod.load()
model = m.models["LFM2.5-230M"]
base = m.serve_config(model, "gpu-fixture")
path = build.ensure(model.fixture, m, log=print)
swap = lambda a, old, new: tuple(new if x == old else x for x in a)
tries = [("as in matrix.yaml", base.args), ("FLEX_ATTENTION", swap(base.args, "TRITON_ATTN", "FLEX_ATTENTION"))]
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
for label, args in tries:
    cfg = dataclasses.replace(base, name=f"smoke-{label.split()[0].lower()}", args=args)
    started = time.monotonic()
    srv = VllmServer(cfg, path, Path("/tmp/lfmc-smoke"))
    try:
        srv.start()
        srv.wait_ready(timeout=180)
        client = srv.client()
        ready = time.monotonic() - started
        chat = client.chat.completions.create(model=model.hf_id, temperature=0, max_tokens=32,
                                              messages=[{"role": "user", "content": "hello"}])
        call = client.chat.completions.create(model=model.hf_id, temperature=0, max_tokens=64, tools=tools,
                                              messages=[{"role": "user", "content": "What is the weather in Paris?"}])
        print(f"SMOKE OK ({label}): ready in {ready:.0f} s; chat: {chat.choices[0].message.content!r}; "
              f"tool call: {[(c.function.name, c.function.arguments) for c in call.choices[0].message.tool_calls or []]}")
    except Exception as exc:  # ServerError carries the log tail
        print(f"SMOKE FAILED ({label}) after {time.monotonic() - started:.0f} s: {exc}")
        continue
    finally:
        srv.stop()
    if args != base.args:
        data = yaml.safe_load(m.path.read_text())
        data["targets"]["gpu-fixture"]["serve_args"] = list(args)
        Path("/tmp/lfmc-matrix.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        print("the suites run with /tmp/lfmc-matrix.yaml (gpu-fixture serve_args:", " ".join(args), ")")
    sys.exit(0)
sys.exit(1)
EOF
smoke=$?
if [ "$smoke" != 0 ]; then
  echo "STOP: no server came up; logs in reports.tar.gz (smoke)"
  tar -czf "$OUT/reports.tar.gz" -C /tmp lfmc-smoke 2>/dev/null
  exit 1
fi
[ -f /tmp/lfmc-matrix.yaml ] && MATRIX=/tmp/lfmc-matrix.yaml

suite() {  # suite NAME MARKERS [TARGET WORKERS MAX_S]: one pytest run into /tmp/lfmc-reports-NAME, cut at the budget
  local left=$((BUDGET_S - (SECONDS - START) - 25)) target=${3:-gpu-fixture} workers=${4:-$WORKERS}
  [ -z "${5:-}" ] || [ "$5" -ge "$left" ] || left=$5
  echo "== pytest -m \"$2\" --target $target (-n $workers, $left s left) =="
  mkdir -p "/tmp/lfmc-reports-$1"
  timeout -k 20 -s TERM "$left" python3 -m pytest suites -m "$2" --target "$target" --matrix "$MATRIX" \
    --reports "/tmp/lfmc-reports-$1" -n "$workers" -p no:cacheprovider -q -rfE --no-header \
    > "/tmp/lfmc-reports-$1/pytest.log" 2>&1
  echo "pytest exit $? after $((SECONDS - START)) s; the end of its output:"
  tail -n 80 "/tmp/lfmc-reports-$1/pytest.log"
  cp "/tmp/lfmc-reports-$1/results.json" "$OUT/results-$1.json" 2>/dev/null
  cp "/tmp/lfmc-reports-$1/signoff.md" "$OUT/signoff-$1.md" 2>/dev/null
}
if [ -n "$STANDIN_MARKERS" ]; then
  if python3 -m fixtures.standin_cache --out /tmp/lfmc-standin --models LFM2.5-230M LFM2.5-1.2B-Thinking; then
    (export HF_HUB_CACHE=/tmp/lfmc-standin; suite standin "$STANDIN_MARKERS" gpu 1 "$STANDIN_MAX_S")
  else
    echo "no stand-in run: the stand-in cache could not be built from .lfmc/fixtures"
  fi
fi
suite core "$MARKERS"
if [ -n "$EXTRA_MARKERS" ] && [ $((BUDGET_S - (SECONDS - START))) -ge "$EXTRA_MIN_S" ]; then
  suite extra "$EXTRA_MARKERS"
else
  echo "no second run (${EXTRA_MARKERS:-none selected}; $((BUDGET_S - (SECONDS - START))) s left)"
fi
tar -czf "$OUT/reports.tar.gz" -C /tmp $(cd /tmp && ls -d lfmc-smoke lfmc-reports-* 2>/dev/null)
echo "done in $((SECONDS - START)) s; $OUT: $(ls "$OUT" | tr '\n' ' ')"
