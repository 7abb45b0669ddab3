"""The guide-reading checks (lfm_conformance/checks/guide.py) on the real guide and matrix, and failing
on hand-built wrong data: a preset that drifted, a Docker command with an undocumented option, a
benchmark profile with another prompt count."""
from __future__ import annotations

import os

import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import guide as check
from lfm_conformance.data import guide as guide_mod
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.workloads import benchmarks

GUIDE_RUN = ["docker", "run", "-itd", "--name", "lfm2.5", "--ipc=host", "--network", "host", "--shm-size", "16G",
             "--gpus", "all", "-v", "~/.cache/huggingface:/root/.cache/huggingface", "vllm/vllm-openai:latest",
             "--model", "LiquidAI/LFM2.5-1.2B-Instruct", "--host", "0.0.0.0", "--port", "8000"]
TOOLS = ["--enable-auto-tool-choice", "--tool-call-parser", "lfm2"]


@pytest.fixture(scope="module")
def guide():
    return guide_mod.load()


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


# -- reading the guide --------------------------------------------------------------------------------------
def test_sampling_table_read_with_unset_cells_and_the_vl_row_for_both(guide):
    presets = guide_mod.sampling_presets(guide)
    assert presets["LiquidAI/LFM2.5-1.2B-JP"] == {"temperature": 0.3, "min_p": 0.15, "repetition_penalty": 1.05}
    assert presets["LiquidAI/LFM2.5-VL-450M"] == presets["LiquidAI/LFM2.5-VL-1.6B"] == {
        "temperature": 0.1, "min_p": 0.15, "repetition_penalty": 1.05}
    assert len(presets) == 10


def test_commands_joined_across_continuations_with_their_comment(guide):
    assert guide.commands("Docker Deployment", "docker run")[0].argv == GUIDE_RUN
    pulls = guide.commands("Docker", "docker pull")
    assert [(p.argv[-1], p.comment) for p in pulls] == [("vllm/vllm-openai:latest", "CUDA 12.x"),
                                                         ("vllm/vllm-openai:latest-cu130", "CUDA 13.0 (Blackwell)")]


def test_a_sampling_row_naming_no_model_is_one_error():
    text = ("Dense Chat Models¶\n| Model | HuggingFace |\n|---|---|\n| LFM2.5 230M | LiquidAI/LFM2.5-230M |\n"
            "Mixture-of-Experts (MoE) Model¶\n| Model | HuggingFace |\n|---|---|\n"
            "Vision-Language Models¶\n| Model | HuggingFace |\n|---|---|\n"
            "Recommended Sampling¶\n| Model | temperature |\n|---|---|\n| LFM2.5 231M | 0.1 |\n")
    with pytest.raises(guide_mod.GuideError, match=r"Recommended Sampling: 'LFM2.5 231M' is not a model of the "
                                                   r"Supported Models tables; allowed values: LFM2.5 230M"):
        guide_mod.sampling_presets(guide_mod.parse(text))


# -- presets --------------------------------------------------------------------------------------------------
def test_every_matrix_preset_is_the_guides_row(guide, matrix):
    presets = guide_mod.sampling_presets(guide)
    for model in matrix.models.values():
        check.preset_equals_guide(model.name, model.preset, presets.get(model.hf_id))


@pytest.mark.parametrize("preset,evidence", [
    ({"temperature": 0.2, "top_k": 50, "repetition_penalty": 1.05}, "temperature: guide 0.1, matrix.yaml 0.2"),
    ({"temperature": 0.1, "top_k": 50, "min_p": 0.15, "repetition_penalty": 1.05}, "min_p: guide –, matrix.yaml 0.15"),
    ({"temperature": 0.1, "repetition_penalty": 1.05}, "top_k: guide 50, matrix.yaml –"),
])
def test_a_drifted_preset_fails_naming_the_parameter(guide, preset, evidence):
    row = guide_mod.sampling_presets(guide)["LiquidAI/LFM2.5-230M"]
    with pytest.raises(CheckFailed) as failed:
        check.preset_equals_guide("LFM2.5-230M", preset, row)
    assert failed.value.evidence == evidence
    assert failed.value.expected == "temperature 0.1, top_k 50, min_p –, repetition_penalty 1.05"


def test_a_model_without_a_guide_row_fails():
    with pytest.raises(CheckFailed, match="has no row for this model"):
        check.preset_equals_guide("LFM2.5-9B", {"temperature": 0.1}, None)


# -- Docker -----------------------------------------------------------------------------------------------
def _faithful(image="vllm/vllm-openai:latest", env=(), flags=TOOLS, model="LiquidAI/LFM2.5-230M") -> list[str]:
    """The guide's line with a row's documented changes, options in another order."""
    return ["docker", "run", "--ipc=host", "-itd", "--name", "lfm2.5", "--network", "host", "--shm-size", "16G",
            "--gpus", "all", "-v", os.path.expanduser("~/.cache/huggingface") + ":/root/.cache/huggingface",
            *[t for kv in env for t in ("-e", kv)], image, "--model", model, "--host", "0.0.0.0", "--port", "8000",
            *flags]


def test_the_guides_line_with_documented_changes_passes():
    check.docker_run_follows_guide(_faithful(), GUIDE_RUN, image="vllm/vllm-openai:latest",
                                   hf_id="LiquidAI/LFM2.5-230M", flags=TOOLS)
    check.docker_run_follows_guide(_faithful("vllm/vllm-openai:latest-cu130", ["VLLM_USE_OINK_OPS=1"]), GUIDE_RUN,
                                   image="vllm/vllm-openai:latest-cu130", hf_id="LiquidAI/LFM2.5-230M", flags=TOOLS,
                                   env={"VLLM_USE_OINK_OPS": "1"})


@pytest.mark.parametrize("observed,problem", [
    (["-d" if t == "-itd" else t for t in _faithful()], "missing docker option -itd; undocumented docker option -d"),
    (_faithful()[:2] + ["-e", "HF_TOKEN"] + _faithful()[2:], "undocumented docker option -e HF_TOKEN"),
    (_faithful(flags=TOOLS + ["--max-model-len", "4096"]), "undocumented server argument --max-model-len 4096"),
    (_faithful(flags=TOOLS[:1]), "missing server argument --tool-call-parser lfm2"),
    (_faithful(image="vllm/vllm-openai:nightly"), "image vllm/vllm-openai:nightly instead of vllm/vllm-openai:latest"),
    (_faithful(model="LiquidAI/LFM2.5-350M"), "missing server argument --model LiquidAI/LFM2.5-230M"),
])
def test_an_undocumented_change_fails_naming_it(observed, problem):
    with pytest.raises(CheckFailed) as failed:
        check.docker_run_follows_guide(observed, GUIDE_RUN, image="vllm/vllm-openai:latest",
                                       hf_id="LiquidAI/LFM2.5-230M", flags=TOOLS)
    assert problem in failed.value.evidence
    assert failed.value.problem == "the suite's docker run is not the guide's plus the row's documented changes"


def test_the_blackwell_image_is_the_pull_commented_blackwell(guide):
    pulls = guide.commands("Docker", "docker pull")
    assert check.guide_image(pulls, blackwell=True) == "vllm/vllm-openai:latest-cu130"
    assert check.guide_image(pulls, blackwell=False) == "vllm/vllm-openai:latest"
    with pytest.raises(CheckFailed, match="does not name one image per GPU class"):
        check.guide_image(pulls[:1], blackwell=True)


# -- serve flags --------------------------------------------------------------------------------------------
def test_the_8b_serve_flags_are_the_guides_combined_command(guide, matrix):
    (command,) = guide.commands("Function Calling / Tool Use", "vllm serve")
    assert command.argv[2] == matrix.models["LFM2.5-8B-A1B"].hf_id
    check.serve_flags_follow_guide("LFM2.5-8B-A1B", matrix.models["LFM2.5-8B-A1B"].serve_flags, command.argv)
    with pytest.raises(CheckFailed) as failed:
        check.serve_flags_follow_guide("LFM2.5-8B-A1B", matrix.models["LFM2.5-1.2B-Instruct"].serve_flags, command.argv)
    assert failed.value.evidence == "missing serve flag --reasoning-parser qwen3"


# -- the benchmark protocol -----------------------------------------------------------------------------------
def test_the_gpu_profile_is_the_guides_protocol(guide, matrix):
    plan = benchmarks.plan(matrix, "gpu")
    check.benchmark_follows_guide(plan.profile.bench_args(), plan.serve_args,
                                  guide.commands("Benchmarking", "vllm bench serve")[0].argv,
                                  guide.commands("Benchmarking", "vllm serve")[0].argv)


def test_a_scaled_profile_or_prefix_caching_fails(guide, matrix):
    cpu = benchmarks.plan(matrix, "cpu").profile
    bench = guide.commands("Benchmarking", "vllm bench serve")[0].argv
    serve = guide.commands("Benchmarking", "vllm serve")[0].argv
    with pytest.raises(CheckFailed) as failed:
        check.benchmark_follows_guide(cpu.bench_args(), ["--no-enable-prefix-caching"], bench, serve)
    assert "missing vllm bench serve argument --num-prompts 64" in failed.value.evidence
    assert "undocumented vllm bench serve argument --num-prompts 16" in failed.value.evidence
    gpu = benchmarks.plan(matrix, "gpu").profile
    with pytest.raises(CheckFailed, match="not the guide's") as failed:
        check.benchmark_follows_guide(gpu.bench_args(), [], bench, serve)
    assert failed.value.evidence == "missing benchmark server argument --no-enable-prefix-caching"
