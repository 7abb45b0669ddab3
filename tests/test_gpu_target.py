"""The GPU target: every (model, GPU) pair classified against the guide's table, nvidia-smi
detection mocked, --gpu / auto target in the plugin, and the vLLM minimum version."""
import pytest

from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.serving import gpu as gpu_mod
from tests.conftest import run_pytest

GPUS = ["T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200"]
# Written from the guide: dense chat models "1x (any)" / "1x (8 GB+)" and "the 1.2B dense checkpoint
# runs across NVIDIA T4, L4, A10G, L40S, A100 (40/80 GB), H100, H200, and B200"; 8B-A1B "1x (24 GB+)";
# "the 8B-A1B MoE and the VL models run on H100, H200, and B200".
# run: applicable; mem: not applicable for memory; list: not applicable, not in the guide's GPU list.
ALL = ["run"] * 9
LARGE_ONLY = ["list"] * 6 + ["run"] * 3
EXPECTED = {
    "LFM2.5-230M": ALL,
    "LFM2.5-350M": ALL,
    "LFM2.5-1.2B-Instruct": ALL,
    "LFM2.5-1.2B-Thinking": ALL,
    "LFM2.5-1.2B-JP": ALL,
    "LFM2.5-1.2B-JP-202606": ALL,
    "LFM2.5-1.2B-Base": ALL,
    "LFM2.5-8B-A1B": ["mem"] + ["list"] * 5 + ["run"] * 3,
    "LFM2.5-VL-450M": LARGE_ONLY,
    "LFM2.5-VL-1.6B": LARGE_ONLY,
}
MEMORY = {"T4": 16, "L4": 24, "A10G": 24, "L40S": 48, "A100-40GB": 40, "A100-80GB": 80, "H100": 80, "H200": 141,
          "B200": 180}


@pytest.fixture(scope="module")
def m():
    return matrix_mod.load()


def test_the_table_covers_every_model_and_gpu(m):
    assert list(m.models) == list(EXPECTED) and list(m.gpus) == GPUS


@pytest.mark.parametrize("model_name", list(EXPECTED))
@pytest.mark.parametrize("gpu", GPUS)
def test_pair_classified_as_the_guide_says(m, model_name, gpu):
    model = model_name
    verdict = gpu_mod.select(m, m.models[model], gpu_mod.host_gpu(m, gpu))
    expected = EXPECTED[model][GPUS.index(gpu)]
    assert verdict.applicable == (expected == "run"), verdict
    if expected == "mem":
        assert verdict.reason == f"{model} needs >= {m.models[model].min_gpu_memory_gb:g} GB; {gpu} has {MEMORY[gpu]} GB"
    if expected == "list":
        assert verdict.reason == f"the guide lists {model} on H100, H200, B200 only, not on {gpu}"
    if expected == "run":
        assert verdict.reason == ""


def test_issue_example_reason(m):
    verdict = gpu_mod.select(m, m.models["LFM2.5-8B-A1B"], gpu_mod.host_gpu(m, "T4"))
    assert verdict.reason == "LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB"


@pytest.mark.parametrize("name, mib, key", [
    ("Tesla T4", 15360, "T4"), ("NVIDIA L4", 23034, "L4"), ("NVIDIA A10G", 23028, "A10G"),
    ("NVIDIA L40S", 46068, "L40S"), ("NVIDIA A100-SXM4-40GB", 40960, "A100-40GB"),
    ("NVIDIA A100-PCIE-40GB", 40960, "A100-40GB"), ("NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"),
    ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB"), ("NVIDIA H100 80GB HBM3", 81559, "H100"),
    ("NVIDIA H100 PCIe", 81559, "H100"), ("NVIDIA H200", 143771, "H200"), ("NVIDIA B200", 183359, "B200"),
])
def test_nvidia_smi_names_map_to_matrix_keys(m, name, mib, key):
    found = gpu_mod.detect(m, lambda: f"{name}, {mib}\n")
    assert found.key == key and found.memory_gb == MEMORY[key]
    assert found.blackwell == (key == "B200")


def test_unknown_gpu_runs_as_unlisted_judged_on_memory(m):
    found = gpu_mod.detect(m, lambda: "NVIDIA RTX 4090, 24564\n")
    assert found.key == "unlisted" and found.memory_gb == 24.0
    assert gpu_mod.select(m, m.models["LFM2.5-8B-A1B"], found).applicable
    small = gpu_mod.detect(m, lambda: "NVIDIA GeForce GTX 1080, 8192\n")
    verdict = gpu_mod.select(m, m.models["LFM2.5-8B-A1B"], small)
    assert verdict.reason == "LFM2.5-8B-A1B needs >= 24 GB; unlisted GPU NVIDIA GeForce GTX 1080 (8 GB) has 8 GB"


def test_no_nvidia_smi_means_cpu_and_gpu_target_needs_a_gpu(m):
    assert gpu_mod.auto_target(lambda: None) == "cpu"
    assert gpu_mod.auto_target(lambda: "NVIDIA H100 80GB HBM3, 81559\n") == "gpu"
    with pytest.raises(ValueError, match="nvidia-smi reports no GPU here; pass --gpu KEY"):
        gpu_mod.host_gpu(m, None, lambda: None)
    with pytest.raises(ValueError, match="allowed values: T4, L4"):
        gpu_mod.host_gpu(m, "V100")


def test_blackwell_env_and_context_cap_added_to_gpu_server(m, matrix_data, write_matrix):
    model = m.models["LFM2.5-1.2B-Instruct"]
    base = m.serve_config(model, "gpu")
    b200 = gpu_mod.serve_config(m, base, model, gpu_mod.host_gpu(m, "B200"))
    h100 = gpu_mod.serve_config(m, base, model, gpu_mod.host_gpu(m, "H100"))
    assert b200.env == {"VLLM_USE_OINK_OPS": "1"} and h100.env == {}
    assert base.args == h100.args == ("--enable-auto-tool-choice", "--tool-call-parser", "lfm2")
    assert base.source == "LiquidAI/LFM2.5-1.2B-Instruct"  # real HF id, from the local HF cache
    matrix_data["fleet"]["context_caps"] = {"LFM2.5-1.2B-Instruct": {"T4": 8192}}
    capped = matrix_mod.load(write_matrix(matrix_data))
    t4 = gpu_mod.serve_config(capped, capped.serve_config(capped.models["LFM2.5-1.2B-Instruct"], "gpu"),
                              capped.models["LFM2.5-1.2B-Instruct"], gpu_mod.host_gpu(capped, "T4"))
    assert t4.args[:2] == ("--max-model-len", "8192")


def test_context_cap_for_unknown_model_rejected(matrix_data, write_matrix):
    matrix_data["fleet"]["context_caps"] = {"LFM2.5-9B": {"T4": 8192}}
    with pytest.raises(matrix_mod.MatrixError, match=r"fleet.context_caps: .*'LFM2.5-9B'.*allowed values"):
        matrix_mod.load(write_matrix(matrix_data))


def test_vllm_older_than_matrix_minimum_is_one_clear_error():
    gpu_mod.check_vllm_version("0.32.0", "0.23.0", "installed vLLM")
    gpu_mod.check_vllm_version("0.23.0", "0.23.0", "installed vLLM")
    with pytest.raises(ValueError, match=r"^installed vLLM: vLLM 0.22.1 is older than 0.23.0, the minimum "
                                         r"matrix.yaml vllm.min_version sets"):
        gpu_mod.check_vllm_version("0.22.1", "0.23.0", "installed vLLM")


def test_plugin_reports_unsupported_pairs_as_not_applicable(tmp_path):
    result = run_pytest("suites/test_loading.py", "--target", "gpu", "--gpu", "T4", "-m", "model_8b_a1b or vision",
                        "-rs", f"--reports={tmp_path}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "lfm-conformance: target gpu on T4, 16 GB" in result.stdout
    assert "SKIPPED [3] suites/test_loading.py: not applicable: LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB" in result.stdout
    assert "not applicable: the guide lists LFM2.5-VL-450M on H100, H200, B200 only, not on T4" in result.stdout
    assert "9 skipped" in result.stdout


def test_plugin_gpu_target_without_gpu_is_one_usage_error(tmp_path):
    result = run_pytest("suites/test_loading.py", "--target", "gpu", f"--reports={tmp_path}")
    assert result.returncode == 4
    assert "ERROR: --target gpu: nvidia-smi reports no GPU here; pass --gpu KEY" in result.stderr


def test_plugin_older_minimum_rejects_installed_vllm(tmp_path, matrix_data, write_matrix):
    matrix_data["vllm"]["min_version"] = "99.0.0"
    result = run_pytest("suites/test_loading.py", f"--matrix={write_matrix(matrix_data)}", "--co",
                        f"--reports={tmp_path}")
    assert result.returncode == 4
    assert "is older than 99.0.0, the minimum matrix.yaml vllm.min_version sets" in result.stderr
