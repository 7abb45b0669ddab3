"""Helpers for the suite's own tests: a matrix copy to break, and pytest run as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def matrix_data() -> dict:
    return yaml.safe_load((ROOT / "matrix.yaml").read_text())


@pytest.fixture
def write_matrix(tmp_path):
    def write(data, name="matrix.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
        return path
    return write


def run_pytest(*args, timeout=900, **popen) -> subprocess.CompletedProcess:
    """pytest in a child process, from the repository root, so the plugin runs as users run it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    if not any(str(a).startswith("--reports") for a in args):  # never touch the outer run's reports/
        args = (*args, f"--reports={tempfile.mkdtemp(prefix='lfmc-reports-')}")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, **popen)
