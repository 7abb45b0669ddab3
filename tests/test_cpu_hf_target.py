"""The real-weights path on CPU (`--target cpu-hf`, matrix.yaml targets.cpu-hf): the hub cache the target
reads, the stand-in cache (fixtures/standin_cache.py) in the hub's own layout, the missing-snapshot error
before any server starts, no GPU demanded, per-target models, lm-eval's tokenizer and offline switches."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures import standin_cache
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.report import coverage
from lfm_conformance.workloads import accuracy
from tests.conftest import ROOT, run_pytest


@pytest.fixture(scope="module")
def m():
    return matrix_mod.load()


def _fake_fixture(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["Lfm2ForCausalLM"], "model_type": "lfm2"}))
    (folder / "generation_config.json").write_text(json.dumps({"max_new_tokens": 7}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "BUILD_OK").write_text("{}")
    return folder


def _cache(tmp_path: Path, hf_ids=("LiquidAI/LFM2.5-230M",)) -> Path:
    cache = tmp_path / "hub"
    fixture = _fake_fixture(tmp_path / "fixtures" / "dense-chat-0123456789abcdef")
    for hf_id in hf_ids:
        standin_cache.write_model(cache, hf_id, fixture)
    (cache / matrix_mod.STANDIN_MARKER).write_text(json.dumps({"label": standin_cache.LABEL, "models": {}}))
    return cache


def test_cpu_hf_is_a_cpu_target_with_real_weights_and_the_cpu_tuning(m):
    cpu, hf = m.targets["cpu"], m.targets["cpu-hf"]
    assert (hf.device, hf.weights, hf.needs_gpu) == ("cpu", "hf", False)
    assert hf.serve_args == cpu.serve_args and hf.env == cpu.env and hf.env["HF_HUB_OFFLINE"] == "1"
    assert m.targets["gpu"].needs_gpu and m.targets["gpu-fixture"].needs_gpu and not cpu.needs_gpu
    assert set(hf.not_applicable) == {"LFM2.5-8B-A1B", "LFM2.5-VL-1.6B"}
    config = m.serve_config(m.models["LFM2.5-230M"], "cpu-hf")
    assert config.source == "LiquidAI/LFM2.5-230M" and config.args[-len(cpu.serve_args):] == cpu.serve_args


def test_every_target_says_its_device_and_names_real_models(m, tmp_path):
    data = yaml.safe_load(matrix_mod.DEFAULT_MATRIX.read_text())
    del data["targets"]["cpu-hf"]["device"]
    with pytest.raises(matrix_mod.MatrixError, match=r"targets\.cpu-hf.*device"):
        matrix_mod.validate(data, "matrix.yaml")
    data = yaml.safe_load(matrix_mod.DEFAULT_MATRIX.read_text())
    data["targets"]["cpu-hf"]["not_applicable"]["LFM2.5-9B"] = "no such model"
    with pytest.raises(matrix_mod.MatrixError, match="LFM2.5-9B"):
        matrix_mod.validate(data, "matrix.yaml")


def test_hub_cache_follows_the_target_env_then_the_process(m):
    target = m.targets["cpu-hf"]
    assert matrix_mod.hub_cache(target, {"HF_HUB_CACHE": "/a", "HF_HOME": "/b"}) == Path("/a")
    assert matrix_mod.hub_cache(target, {"HF_HOME": "/b"}) == Path("/b/hub")
    assert matrix_mod.hub_cache(target, {"XDG_CACHE_HOME": "/x"}) == Path("/x/huggingface/hub")
    with_env = matrix_mod.Target("t", "", "hf", (), {"HF_HUB_CACHE": "/target"}, 1, 1)
    assert matrix_mod.hub_cache(with_env, {"HF_HUB_CACHE": "/process"}) == Path("/target")


def test_standin_cache_is_the_hubs_layout_and_huggingface_hub_resolves_it(m, tmp_path):
    cache = _cache(tmp_path)
    repo = cache / "models--LiquidAI--LFM2.5-230M"
    revision = (repo / "refs" / "main").read_text()
    snapshot = repo / "snapshots" / revision
    assert len(revision) == 40 and (snapshot / "config.json").is_symlink()
    assert (snapshot / "config.json").resolve().parent == (repo / "blobs").resolve()
    assert not (snapshot / "BUILD_OK").exists()
    env = {"HF_HUB_CACHE": str(cache)}
    assert matrix_mod.hub_snapshot(m.targets["cpu-hf"], "LiquidAI/LFM2.5-230M", env) == snapshot
    # huggingface_hub's own offline lookup (what vLLM and transformers call with HF_HUB_OFFLINE=1)
    code = ("from huggingface_hub import try_to_load_from_cache as t; "
            "print(t('LiquidAI/LFM2.5-230M', 'generation_config.json'))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == str(snapshot / "generation_config.json"), out.stderr
    assert matrix_mod.standin_marker(m.targets["cpu-hf"], env)["label"] == "real-weights path, stand-in weights"
    config = m.serve_config(m.models["LFM2.5-230M"], "cpu-hf")
    assert matrix_mod.local_weights(config, environ=env) == str(snapshot)


def test_builder_refuses_an_unbuilt_fixture_and_writes_the_marker(m, tmp_path, monkeypatch):
    built = _fake_fixture(tmp_path / "fixtures" / "dense-chat-0123456789abcdef")
    monkeypatch.setattr(standin_cache.build, "fixture_dir", lambda name, matrix: built if name == "dense-chat"
                        else tmp_path / "fixtures" / f"{name}-unbuilt")
    marker = standin_cache.build_cache(tmp_path / "hub", ["LFM2.5-230M", "LFM2.5-350M"], m, log=lambda _l: None)
    assert set(marker["models"]) == {"LiquidAI/LFM2.5-230M", "LiquidAI/LFM2.5-350M"}
    assert json.loads((tmp_path / "hub" / matrix_mod.STANDIN_MARKER).read_text())["label"] == standin_cache.LABEL
    with pytest.raises(ValueError, match="fixture dense-thinking .* is not built"):
        standin_cache.build_cache(tmp_path / "hub", ["LFM2.5-1.2B-Thinking"], m, log=lambda _l: None)


def test_missing_snapshot_is_one_line_naming_the_id_and_the_download_command(m, tmp_path):
    with pytest.raises(matrix_mod.SnapshotMissing) as info:
        matrix_mod.hub_snapshot(m.targets["cpu-hf"], "LiquidAI/LFM2.5-350M", {"HF_HUB_CACHE": str(tmp_path)})
    text = str(info.value)
    assert "\n" not in text and "LiquidAI/LFM2.5-350M" in text and str(tmp_path) in text
    assert "`hf download LiquidAI/LFM2.5-350M`" in text and "`huggingface-cli download LiquidAI/LFM2.5-350M`" in text


def test_run_refuses_a_missing_snapshot_before_any_server_and_needs_no_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(_cache(tmp_path)))  # 230M only
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi
    ok = run_pytest("suites/test_loading.py", "--target=cpu-hf", "-m", "model_230m", "--collect-only", "-q",
                    "-n", "0", timeout=300)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "LFM2.5-230M-cpu-hf" in ok.stdout and "nvidia-smi" not in ok.stdout + ok.stderr
    refused = run_pytest("suites/test_loading.py", "--target=cpu-hf", "-m", "model_1_2b", "-q", "-n", "0",
                         timeout=300)
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr[-2000:]
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: target cpu-hf: LiquidAI/LFM2.5-1.2B-")
    assert "hf download LiquidAI/LFM2.5-1.2B-" in lines[0] and "Traceback" not in refused.stdout


def test_gpu_option_only_with_a_gpu_target_of_real_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(_cache(tmp_path)))
    result = run_pytest("suites/test_loading.py", "--target=cpu-hf", "--gpu=H100", "--collect-only", "-q",
                        "-n", "0", timeout=300)
    assert result.returncode == 4 and "--gpu H100: only with a GPU target serving real weights" in result.stderr


@pytest.mark.parametrize("expr,expected", [
    ("", ["LFM2.5-230M", "LFM2.5-350M", "LFM2.5-1.2B-Instruct", "LFM2.5-1.2B-Thinking", "LFM2.5-1.2B-JP",
          "LFM2.5-1.2B-JP-202606", "LFM2.5-1.2B-Base", "LFM2.5-VL-450M"]),
    ("model_230m", ["LFM2.5-230M"]),
    ("model_230m or model_8b_a1b", ["LFM2.5-230M"]),  # 8B-A1B: not applicable on cpu-hf
    ("reasoning and not perf", ["LFM2.5-1.2B-Thinking"]),
    ("vision", ["LFM2.5-VL-450M"]),
    ("perf and model_1_2b and completions", ["LFM2.5-1.2B-Base"]),
])
def test_models_a_marker_expression_can_select(m, expr, expected):
    from lfm_conformance.harness import plugin

    state = plugin.RunState(m, "cpu-hf", Path("/nonexistent"), None)
    assert [model.name for model in plugin._models_selected(expr, state)] == expected


def test_offline_switches_are_put_back(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    before = huggingface_hub.constants.HF_HUB_OFFLINE
    with accuracy.offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["HF_DATASETS_OFFLINE"] == "0"
    assert huggingface_hub.constants.HF_HUB_OFFLINE == before


def test_a_tokenizer_that_cannot_load_is_the_suites_error_naming_it(tmp_path):
    baseline = accuracy.Baseline(model="LFM2.5-1.2B-Base", target="cpu-hf", task="lfmc_arith_base",
                                 metric="exact_match,strict-match", expected=1.0, rtol=0.0, limit=8, num_fewshot=0,
                                 chat_template=False, baseline_source="fixture-taught", review_margin=0.05, offline=True)
    with pytest.raises(accuracy.AccuracyError) as info:
        accuracy.check_tokenizer(baseline, str(tmp_path / "no-such-snapshot"))
    assert "tokenizer" in str(info.value) and "no-such-snapshot" in str(info.value)
    assert "would need a download" not in str(info.value)


def test_coverage_does_not_count_a_standin_run_as_real_weights(m):
    run = {"where": "cpu-hf", "target": "cpu-hf",
           "environment": {"hardware": {"kind": "cpu"}, "weights": {"source": "hf", "standin": True}}}
    wheres = coverage._wheres({"runs": [run], "records": []}, m)
    assert wheres["cpu-hf"]["real_weights"] is False and wheres["cpu-hf"]["standin"] is True
    run["environment"]["weights"]["standin"] = False
    assert coverage._wheres({"runs": [run], "records": []}, m)["cpu-hf"]["real_weights"] is True
    claim = next(c for c in coverage._inputs(None, m, coverage.claims_mod.CLAIMS_FILE)[0].claims if c.real_weights_only)
    status, detail = coverage.claim_status(claim, {}, wheres["cpu-hf"])
    assert status in ("real-weights-only", "not-applicable", "not-run") and (
        status != "real-weights-only" or detail.startswith("real-weights path, stand-in weights"))
