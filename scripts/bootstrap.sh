#!/usr/bin/env bash
# Make (or reuse) the suite's virtual environment and print its path on the last line of stdout.
# The environment lives outside the clone, keyed by a hash of the pinned requirements and the
# Python version, so a re-run (or CI in a fresh clone on the same machine) reuses it in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${LFMC_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
HOME_DIR=${LFMC_HOME:-$HOME/.cache/lfm-conformance}
key=$( (cat requirements/cpu.txt requirements/torch-swap.txt scripts/bootstrap.sh; "$PYTHON" -V; echo "${LFMC_INSTALLER:-pip}") | sha256sum | cut -c1-12)
VENV="$HOME_DIR/venv-$key"

if [ -f "$VENV/.complete" ]; then
  echo "environment: reusing $VENV" >&2
else
  echo "environment: building $VENV (first run: several minutes, ~6 GB)" >&2
  started=$(date +%s)
  mkdir -p "$HOME_DIR"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
  pip install --upgrade pip >&2
  if [ "${LFMC_INSTALLER:-pip}" = uv ]; then
    # uv reads no pip configuration: hand it the same wheel folder and extra indexes pip uses here.
    pip install "uv==${LFMC_UV_VERSION:-0.13.9}" >&2
    links=${PIP_FIND_LINKS:-$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true)}
    extra=$("$VENV/bin/python" -m pip config get global.extra-index-url 2>/dev/null || true)
    uv_args=(--python "$VENV/bin/python" --index-strategy unsafe-best-match -q)
    for l in $links; do uv_args+=(--find-links "$l"); done
    for e in $extra; do uv_args+=(--extra-index-url "$e"); done
    "$VENV/bin/uv" pip install "${uv_args[@]}" -r requirements/cpu.txt >&2
    "$VENV/bin/uv" pip uninstall --python "$VENV/bin/python" -q torch >&2
    no_links=(); for a in "${uv_args[@]}"; do no_links+=("$a"); done
    "$VENV/bin/uv" pip install --python "$VENV/bin/python" --index-strategy unsafe-best-match -q \
      $(for e in $extra; do printf -- '--extra-index-url %s ' "$e"; done) -r requirements/torch-swap.txt >&2
  else
    pip install -r requirements/cpu.txt >&2
    # Swap in PyPI's torch build so torchvision loads (see requirements/torch-swap.txt).
    pip uninstall -y torch >&2
    PIP_FIND_LINKS=" " pip install -r requirements/torch-swap.txt >&2
  fi
  "$VENV/bin/python" - <<'PY' >&2
import torch, torchvision.ops, vllm, transformers  # the imports the suite depends on
print(f"environment: vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PY
  touch "$VENV/.complete"
  echo "environment: ready in $(( $(date +%s) - started )) s" >&2
fi
echo "$VENV"
