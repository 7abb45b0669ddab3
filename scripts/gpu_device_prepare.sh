#!/usr/bin/env bash
# Prepares a run of the suite on a borrowed GPU machine (no network there; each call carries at most
# 64 MiB): vLLM 0.23.0 for CUDA and what it needs beyond the machine's image, as an installed tree
# packed into parts of <= PART_MIB that travel one per call, plus the fixture checkpoints.
# scripts/gpu_device_run.sh is the other half (runs there). Usage, from the repository root here:
#   scripts/gpu_device_prepare.sh site       wheels -> .whl/site -> .whl/part1..N (once; ~5 min)
#   scripts/gpu_device_prepare.sh fixtures   build the fixtures with the current sources, copy them to .lfmc
#   scripts/gpu_device_prepare.sh            both, then the per-call sizes
# Both folders are ignored through .git/info/exclude (/.whl/, /.lfmc/).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-all}
PART_MIB=${PART_MIB:-56}        # per part; the last call also carries .lfmc (~14 MiB)
LAST_PART_MIB=${LAST_PART_MIB:-43}
FIXTURES="dense-chat dense-thinking dense-base moe-thinking vl"

# vllm==0.23.0's Requires-Dist resolved for CPython 3.12 / manylinux x86_64, minus what the image has
# (torch 2.11.0, transformers 5.17.0, tokenizers, numpy, aiohttp, httpx, ... see KINDS.md) and minus
# the optional GPU kernel packages (flashinfer-python/-cubin, tilelang, nvidia-cutlass-dsl, quack-kernels,
# tokenspeed-mla, humming-kernels, nvidia-cudnn-frontend, fastsafetensors: ~900 MiB; vLLM imports them
# lazily and falls back without them; the FlashInfer sampler is switched off by VLLM_USE_FLASHINFER_SAMPLER=0
# in gpu_device_run.sh). xgrammar 0.2.5.post1: the newest that accepts vllm's apache-tvm-ffi==0.1.9 pin.
# Plus the suite's own: openai, jsonschema, and pytest 8.4.2 + pytest-xdist 3.8.0 (loadgroup needs them).
WHEELS="agent-detector==2.0.0 annotated-types==0.8.0 anthropic==2.14.0 apache-tvm-ffi==0.1.9 astor==0.8.1
blake3==1.0.11 cachetools==8.0.2 cbor2==6.3.0 cffi==2.1.1 compressed-tensors==0.17.0 cryptography==50.0.2
depyf==0.20.0 detect-installer==0.2.1 dill==0.4.1 diskcache==5.6.3 dnspython==2.9.2 docstring-parser==0.18.0
email-validator==2.4.0 fastapi==0.136.3 fastapi-cli==0.0.34 fastapi-cloud-cli==0.28.0 fastar==0.12.0
gguf==0.19.0 googleapis-common-protos==1.76.0 httpcore2==2.16.2 httptools==0.9.0 httpx2==2.16.2 ijson==3.6.0
interegular==0.3.3 jiter==0.19.0 jmespath==1.1.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
lark==1.2.2 llguidance==1.7.6 lm-format-enforcer==0.11.3 loguru==0.7.3 mcp==2.3.0 mcp-types==2.3.0
mistral-common==1.13.1 model-hosting-container-standards==0.1.16 msgspec==0.22.0 openai==3.57.0
openai-harmony==0.0.8 opentelemetry-api==1.45.2 opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2 opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-proto==1.45.2 opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2 opentelemetry-semantic-conventions-ai==0.5.1 outlines-core==0.2.14
partial-json-parser==0.2.1.1.post7 prometheus-fastapi-instrumentator==8.1.0 pybase64==1.5.1
pycountry==26.2.16 pycparser==3.12 pydantic==2.14.4 pydantic-core==2.50.5 pydantic-extra-types==2.11.1
pydantic-settings==2.16.3 pyjwt==2.15.1 pytest==8.4.2 pytest-xdist==3.8.0 python-dotenv==1.2.4
python-json-logger==4.2.0 python-multipart==0.0.34 pyzmq==27.3.0 referencing==0.37.0 rich-toolkit==0.20.6
rignore==0.8.1 rpds-py==2026.9.1 sentry-sdk==2.75.0 setproctitle==1.3.8 sniffio==1.3.1 sse-starlette==3.7.0
starlette==1.10.0 supervisor==4.3.0 truststore==0.10.5 typing-inspection==0.4.5 uvicorn==0.54.0 vllm==0.23.0
watchfiles==1.3.0 websockets==17.4 xgrammar==0.2.5.post1"
PLATFORMS=(--python-version 3.12 --implementation cp --only-binary=:all:)
for n in 31 28 27 26 24 17 5; do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# Not needed at run time, dropped from the tree: FlashAttention 2 kernels (Hopper uses FA3, which stays:
# every model imports vllm.vllm_flash_attn, which needs FA2 or FA3; float32 attention is Triton's anyway),
# the Rust front end (off unless VLLM_USE_RUST_FRONTEND=1), DeepGEMM builds for other Pythons, xgrammar's
# static link library, console scripts (their shebangs name this machine's Python).
PRUNE="vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so vllm/vllm-rs xgrammar/lib/libxgrammar.a bin
vllm/third_party/deep_gemm/_C.cpython-310-x86_64-linux-gnu.so vllm/third_party/deep_gemm/_C.cpython-311-x86_64-linux-gnu.so
vllm/third_party/deep_gemm/_C.cpython-313-x86_64-linux-gnu.so vllm/third_party/deep_gemm/_C.cpython-314-x86_64-linux-gnu.so"

grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.lfmc/' .git/info/exclude 2>/dev/null || echo /.lfmc/ >> .git/info/exclude

site() {
  mkdir -p .whl/wheels
  # shellcheck disable=SC2086
  python3 -m pip download -q --no-deps "${PLATFORMS[@]}" -d .whl/wheels $WHEELS
  local count; count=$(ls .whl/wheels/*.whl | wc -l)
  [ "$count" -eq "$(echo $WHEELS | wc -w)" ] || { echo "error: .whl/wheels holds $count wheels, expected $(echo $WHEELS | wc -w) (one version each)" >&2; exit 1; }
  rm -rf .whl/site .whl/part*
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target .whl/site "${PLATFORMS[@]}" .whl/wheels/*.whl
  for p in $PRUNE; do rm -rf ".whl/site/$p"; done
  python3 - "$PART_MIB" "$LAST_PART_MIB" <<'EOF'
"""Pack .whl/site into self-contained archives, one folder per device call: shared libraries (already
dense) as tar.gz bin-packed by compressed size, everything else in one tar.xz."""
import hashlib, io, json, os, sys, tarfile, zlib
from pathlib import Path
MiB = 2**20
part_mib, last_mib = float(sys.argv[1]), float(sys.argv[2])
root = Path(".whl/site")
files = sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
so = [p for p in files if ".so" in p.name and not p.is_symlink()]
rest = [p for p in files if p not in set(so)]
text = io.BytesIO()
with tarfile.open(fileobj=text, mode="w:xz", preset=6) as tar:
    for p in rest:
        tar.add(p, arcname=str(p.relative_to(root)), recursive=False)
items = [("text", len(text.getvalue()), None)] + [(str(p.relative_to(root)), len(zlib.compress(p.read_bytes(), 6)), p) for p in so]
total = sum(s for _, s, _ in items)
bins = []
n = 1
while True:  # fewest parts that first-fit-decreasing packs, the last one smaller (it also carries .lfmc)
    caps = [part_mib * MiB] * (n - 1) + [last_mib * MiB]
    bins = [[] for _ in caps]
    ok = True
    for item in sorted(items, key=lambda i: -i[1]):
        for i in range(n):  # first fit: the big parts fill first, the last (smaller) one takes the rest
            if sum(s for _, s, _ in bins[i]) + item[1] <= caps[i]:
                bins[i].append(item); break
        else:
            ok = False; break
    if ok:
        break
    n += 1
manifest = {"parts": []}
for i, content in enumerate(bins, 1):
    d = Path(f".whl/part{i}"); d.mkdir(parents=True)
    names = []
    sos = [p for name, _, p in content if p is not None]
    if sos:
        with tarfile.open(d / f"so-{i}.tar.gz", "w:gz", compresslevel=6) as tar:
            for p in sos:
                tar.add(p, arcname=str(p.relative_to(root)), recursive=False)
        names.append(f"so-{i}.tar.gz")
    if any(name == "text" for name, _, _ in content):
        (d / "text.tar.xz").write_bytes(text.getvalue()); names.append("text.tar.xz")
    size = sum((d / f).stat().st_size for f in names)
    manifest["parts"].append({"part": i, "files": {f: hashlib.sha256((d / f).read_bytes()).hexdigest() for f in names},
                              "mib": round(size / MiB, 1)})
    print(f"part{i}: {size / MiB:5.1f} MiB  {', '.join(names)}")
manifest["count"] = len(bins)
for i in range(1, len(bins) + 1):
    (Path(f".whl/part{i}") / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
print(f"{len(bins)} parts, {sum(p['mib'] for p in manifest['parts']):.1f} MiB packed from {total / MiB:.1f} MiB estimated")
EOF
}

fixtures() {
  local venv; venv=$(scripts/bootstrap.sh | tail -n 1)
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
  # shellcheck disable=SC2086
  "$venv/bin/python" -m fixtures.build $FIXTURES
  rm -rf .lfmc && mkdir -p .lfmc/fixtures
  "$venv/bin/python" - $FIXTURES <<'EOF'
"""Copy the built fixtures (by content hash, as fixtures.build names them) into .lfmc/fixtures; the
live-attention variants are rebuilt there in a second (fixtures/reference.py)."""
import shutil, sys
from pathlib import Path
from fixtures import build
from lfm_conformance.data import matrix as matrix_mod
m = matrix_mod.load()
for name in sys.argv[1:]:
    src = build.fixture_dir(name, m)
    assert (src / "BUILD_OK").exists(), f"{src}: not built"
    shutil.copytree(src, Path(".lfmc/fixtures") / src.name)
    print(f"{name}: {src.name}")
EOF
  # The same lookup with LFMC_HOME=.lfmc, as on the device: found, nothing rebuilt.
  LFMC_HOME="$PWD/.lfmc" "$venv/bin/python" - $FIXTURES <<'EOF'
import sys
from fixtures import build
from lfm_conformance.data import matrix as matrix_mod
m = matrix_mod.load()
for name in sys.argv[1:]:
    out = build.ensure(name, m, log=lambda line: sys.exit(f"error: {name} would be rebuilt: {line}"))
    assert (out / "BUILD_OK").exists() and str(out).startswith(str(build.CACHE_ROOT)), out
print("fixtures found under .lfmc by content hash:", ", ".join(sys.argv[1:]))
EOF
}

sizes() {
  local tree parts
  tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
  parts=$(ls -d .whl/part* | wc -l)
  echo "per call (tree $((tree / 1024)) KiB travels each time; limit 64 MiB):"
  for i in $(seq 1 "$parts"); do
    local extra=0
    [ "$i" -eq "$parts" ] && extra=$(du -sb .lfmc | cut -f1)
    local total=$((tree + $(du -sb ".whl/part$i" | cut -f1) + extra))
    echo "  call $i: .whl/part$i$([ "$i" -eq "$parts" ] && echo ' + .lfmc'): $((total / 1048576)) MiB"
    [ "$total" -lt $((60 * 1048576)) ] || { echo "error: call $i carries over 60 MiB" >&2; exit 1; }
  done
}

case "$stage" in
  site) site ;;
  fixtures) fixtures ;;
  all) [ -f .whl/part1/MANIFEST.json ] || site; fixtures ;;
  *) echo "usage: $0 [site|fixtures|all]" >&2; exit 2 ;;
esac
[ -f .whl/part1/MANIFEST.json ] && [ -d .lfmc ] && sizes || true
