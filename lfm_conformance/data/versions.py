"""The vLLM version matrix for scripts (./run): `python -m lfm_conformance.data.versions ci` prints the
`ci: true` versions of matrix.yaml, `ci-selection` the pytest marker expression they run in ./run tests,
`all` every version."""
from __future__ import annotations

import sys

from lfm_conformance.data import matrix as matrix_mod


def main(argv: list[str]) -> int:
    what = argv[0] if argv else ""
    try:
        matrix = matrix_mod.load()
    except matrix_mod.MatrixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if what == "ci":
        print(" ".join(v for v, entry in matrix.vllm_versions.items() if entry.ci))
    elif what == "all":
        print(" ".join(matrix.vllm_versions))
    elif what == "ci-selection":
        print(matrix.vllm_ci_selection)
    else:
        print("usage: python -m lfm_conformance.data.versions ci|ci-selection|all", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
