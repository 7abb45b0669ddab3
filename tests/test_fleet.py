"""The fleet off-line: Docker command lines, the Modal plan and app (modal imported, never
contacted), the nightly job matrix, and the workflow files linted by actionlint."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import docker, fleet
from tests.conftest import ROOT

# GPU strings Modal accepts for one GPU: its GPUType enum names (modal_proto) with "_" as "-", the
# A100 size spelled out, and B200 (newer than the enum; in Modal's GPU docs).
MODAL_GPUS = {"T4", "L4", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "H100", "H200", "B200"}


@pytest.fixture(scope="module")
def m():
    return matrix_mod.load()


# -- Docker -----------------------------------------------------------------------------------------
def test_docker_command_is_the_guides_with_the_rows_flags(m):
    cmd = docker.command(m, "LFM2.5-1.2B-Instruct", "H100", hf_cache="/hf")
    assert cmd == ["docker", "run", "-itd", "--name", "lfm2.5", "--ipc=host", "--network", "host",
                   "--shm-size", "16G", "--gpus", "all", "-v", "/hf:/root/.cache/huggingface",
                   "vllm/vllm-openai:latest", "--model", "LiquidAI/LFM2.5-1.2B-Instruct", "--host", "0.0.0.0",
                   "--port", "8000", "--enable-auto-tool-choice", "--tool-call-parser", "lfm2"]


def test_docker_blackwell_uses_cu130_image_and_oink_env(m):
    cmd = docker.command(m, "LFM2.5-8B-A1B", "B200")
    image = cmd.index("vllm/vllm-openai:latest-cu130")
    assert cmd[image - 2:image] == ["-e", "VLLM_USE_OINK_OPS=1"]
    assert cmd[image + 1:] == ["--model", "LiquidAI/LFM2.5-8B-A1B", "--host", "0.0.0.0", "--port", "8000",
                               "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "lfm2"]
    # 230M: the recipes list no Blackwell override, so none is applied
    assert not any(a.startswith("VLLM_USE_OINK_OPS") for a in docker.command(m, "LFM2.5-230M", "B200"))


def test_docker_vl_gets_image_limit_and_no_token_value(m, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    cmd = docker.command(m, "LFM2.5-VL-1.6B", "H200", served_name="llm")
    assert cmd[-2:] == ["--limit-mm-per-prompt", '{"image": 4}'] and "llm" in cmd
    assert "hf_secret_value" not in " ".join(cmd) and "HF_TOKEN" not in cmd  # the guide's line passes no token


def test_docker_refuses_unsupported_pair_and_unknown_names(m, capsys):
    with pytest.raises(ValueError, match="^not applicable: LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB$"):
        docker.command(m, "LFM2.5-8B-A1B", "T4")
    assert docker.main(["--model", "LFM2.5-9B", "--gpu", "H100"]) == 2
    assert "allowed values: LFM2.5-230M" in capsys.readouterr().err
    assert docker.main(["--model", "LFM2.5-350M", "--gpu", "L4"]) == 0
    assert capsys.readouterr().out.startswith("docker run -itd --name lfm2.5 ")


# -- Modal plan ---------------------------------------------------------------------------------------
def test_plan_covers_every_pair_with_reasons(m):
    pairs = fleet.plan(m)
    assert len(pairs) == 90 and sum(p.applicable for p in pairs) == 7 * 9 + 8 + 2 * 3
    assert all(p.reason.startswith(("LFM2.5-8B-A1B needs", "the guide lists")) for p in pairs if not p.applicable)
    assert all(p.modal_gpu in MODAL_GPUS for p in pairs)
    assert len({p.app_name for p in pairs}) == 90


def test_modal_gpu_strings_parse_in_the_installed_modal(m):
    from modal._utils.function_utils import parse_gpu_config
    from modal_proto import api_pb2

    enum = {name.removeprefix("GPU_TYPE_").replace("_", "-") for name in api_pb2.GPUType.keys()}
    assert MODAL_GPUS - {"A100-40GB", "B200"} <= enum | {"A100-80GB"}
    for key, modal_gpu in fleet.gpu_mod.fleet(m).modal.items():
        assert parse_gpu_config(modal_gpu).gpu_type == modal_gpu, key


def test_plan_flags_documented_vs_published(m):
    [thinking] = fleet.plan(m, ["LFM2.5-1.2B-Thinking"], ["H100"])
    assert thinking.args == ("--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "lfm2")
    [published] = fleet.plan(m, ["LFM2.5-1.2B-Thinking"], ["H100"], published_flags=True)
    assert "--reasoning-parser" not in published.args and "--tool-call-parser" in published.args
    [jp] = fleet.plan(m, ["LFM2.5-1.2B-JP"], ["L4"], published_flags=True)
    assert "--enable-auto-tool-choice" in jp.args  # the published script adds tool flags to every model
    [vl] = fleet.plan(m, ["LFM2.5-VL-450M"], ["B200"])
    assert vl.args == ("--limit-mm-per-prompt", '{"image": 4}') and vl.env == {"VLLM_USE_OINK_OPS": "1"}


def test_serve_spec_and_pair_commands(m, tmp_path):
    spec = fleet.serve_spec(m, "LiquidAI/LFM2.5-8B-A1B", "B200", vllm_version="0.23.0")
    assert spec["image"] == "vllm/vllm-openai:v0.23.0" and spec["modal_gpu"] == "B200"
    assert spec["command"][:5] == ["vllm", "serve", "LiquidAI/LFM2.5-8B-A1B", "--served-model-name", "llm"]
    assert spec["env"] == {"VLLM_USE_OINK_OPS": "1"} and spec["app"] == "lfmc-lfm2.5-8b-a1b-b200"
    with pytest.raises(ValueError, match="not applicable: the guide lists LFM2.5-VL-1.6B on H100, H200, B200 only"):
        fleet.serve_spec(m, "LFM2.5-VL-1.6B", "A10G")
    [pair] = fleet.plan(m, ["LFM2.5-8B-A1B"], ["B200"])
    cmd = fleet.suite_command(pair, "https://x.modal.run", tmp_path, "llm")
    assert cmd[cmd.index("--base-url") + 1] == "https://x.modal.run"
    assert cmd[cmd.index("--model") + 1] == "LFM2.5-8B-A1B" and cmd[cmd.index("--gpu") + 1] == "B200"
    assert cmd[cmd.index("--served-model-name") + 1] == "llm"
    merge = fleet.merge_command([tmp_path / "a/results.json", tmp_path / "b/results.json"], tmp_path / "signoff")
    assert merge[1:3] == ["-m", "lfm_conformance.report.merge"] and merge[-2:] == ["--out", str(tmp_path / "signoff")]


def test_github_matrix_per_backend(m):
    pairs = fleet.plan(m)
    modal_jobs = fleet.github_matrix(m, pairs, "modal")["include"]
    assert len(modal_jobs) == 77 and {"model": "LFM2.5-8B-A1B", "gpu": "H100", "slug": "LFM2.5-8B-A1B-H100",
                                      "runs-on": "ubuntu-latest"} in modal_jobs
    hosted = fleet.github_matrix(m, pairs, "self-hosted")["include"]
    assert [j["runs-on"] for j in hosted][-1] == ["self-hosted", "linux", "gpu-b200"] and len(hosted) == 9


def test_plan_cli_rejects_unknown_gpu(capsys):
    assert fleet.main(["plan", "--gpus", "V100"]) == 2
    assert "V100: not in" in capsys.readouterr().err


# -- the Modal app ----------------------------------------------------------------------------------
def _import_app(monkeypatch, **env):
    for key in ("MODEL", "GPU", "PUBLISHED_FLAGS", "VLLM_VERSION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("modal_app_under_test", ROOT / "deploy" / "modal_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modal_app_imports_offline_with_the_rows_flags(monkeypatch):
    app = _import_app(monkeypatch, MODEL="LiquidAI/LFM2.5-1.2B-Thinking", GPU="T4")
    assert app.app.name == "lfmc-lfm2.5-1.2b-thinking-t4" and app.SPEC["modal_gpu"] == "T4"
    assert "--reasoning-parser" in app.SPEC["command"]
    default = _import_app(monkeypatch)
    assert default.SPEC["model"] == "LFM2.5-1.2B-Instruct" and default.SPEC["gpu"] == "L4"  # the guide's defaults
    published = _import_app(monkeypatch, MODEL="LFM2.5-1.2B-Thinking", GPU="H100", PUBLISHED_FLAGS="1")
    assert "--reasoning-parser" not in published.SPEC["command"] and published.app.name.endswith("-published")


def test_modal_app_refuses_unsupported_pair(monkeypatch):
    with pytest.raises(ValueError, match="LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB"):
        _import_app(monkeypatch, MODEL="LFM2.5-8B-A1B", GPU="T4")


def test_modal_cli_imports_the_app_without_contacting_modal():
    """`modal` itself loads the file (app discovery), with no token and no network."""
    code = ("from modal.cli import import_refs as r;"
            "print(r.import_app_from_ref(r.parse_import_ref('deploy/modal_app.py'), base_cmd='modal deploy').name)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "nonexistent-home"), "GPU": "H200",
                                 "MODEL": "LFM2.5-VL-450M", "MODAL_SERVER_URL": "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("lfmc-lfm2.5-vl-450m-h200")


# -- workflows ----------------------------------------------------------------------------------------
def test_workflows_lint_clean():
    actionlint = Path(sys.executable).with_name("actionlint")
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["ci.yml", "nightly.yml"]
    result = subprocess.run([str(actionlint), *map(str, workflows)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nightly_is_scheduled_manual_and_uses_the_plan():
    import yaml

    nightly = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())
    triggers = nightly[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert "fleet plan --format github" in json.dumps(nightly["jobs"]["plan"])
    assert "fromJSON(needs.plan.outputs.matrix)" in nightly["jobs"]["signoff"]["strategy"]["matrix"]
    assert "lfm_conformance.report.merge" in json.dumps(nightly["jobs"]["merge"])
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert "push" in ci[True] and any(s.get("run") == "bash .ci/run" for s in ci["jobs"]["tests"]["steps"])


def test_run_merges_every_pairs_results_and_writes_the_plan(m, tmp_path, monkeypatch):
    ran, merged = [], []

    def fake_pair(matrix, pair, out, published_flags=False, extra=()):
        ran.append(pair.slug)
        (out / pair.slug).mkdir(parents=True)
        (out / pair.slug / "results.json").write_text("{}")
        return out / pair.slug

    monkeypatch.setattr(fleet, "run_pair", fake_pair)
    monkeypatch.setattr(fleet.subprocess, "run", lambda cmd, **kw: merged.append(cmd))
    pairs = fleet.plan(m, ["LFM2.5-8B-A1B"], ["T4", "H100", "B200"])
    assert fleet.run(m, pairs, tmp_path, jobs=2) == 0
    assert sorted(ran) == ["LFM2.5-8B-A1B-B200", "LFM2.5-8B-A1B-H100"]
    assert merged == [fleet.merge_command([tmp_path / "LFM2.5-8B-A1B-H100/results.json",
                                           tmp_path / "LFM2.5-8B-A1B-B200/results.json"], tmp_path / "signoff")]
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan[0]["gpu"] == "T4" and plan[0]["reason"] == "LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB"
