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
    "LFM2.5-8B-A1B": ["mem"] + ["run"] * 8,  # the 24 GB+ reading (erratum 8b-a1b-gpus)
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


# vLLM's own dtype choice for BF16 weights served with --dtype auto (its default), run in a child process on
# vLLM's CUDA platform code with the device's compute capability faked (the platform's compiled ops are
# stubbed: only its Python dtype rule runs). T4 is Turing, compute capability 7.5; L4 is Ada, 8.9.
AUTO_DTYPE = """
import sys, types
sys.modules["vllm._C_stable_libtorch"] = types.ModuleType("vllm._C_stable_libtorch")
from unittest import mock
import torch
from vllm.platforms import cuda
from vllm.platforms.interface import DeviceCapability
import vllm.config.model as model_config
platform = cuda.CudaPlatform
for device in sys.argv[1:]:
    name, major, minor = device.split(":")
    capability = DeviceCapability(int(major), int(minor))
    with mock.patch.object(platform, "get_device_capability", classmethod(lambda cls, device_id=0: capability)), \\
         mock.patch.object(platform, "get_device_name", classmethod(lambda cls, device_id=0: name)), \\
         mock.patch.object(model_config, "current_platform", platform()):
        print(name, model_config._resolve_auto_dtype("lfm2", torch.bfloat16, is_pooling_model=False), sep="=")
"""


def _vllm_auto_dtypes(*devices: str) -> tuple[dict[str, str], str]:
    """{device name: the dtype vLLM picks} for devices "NAME:MAJOR:MINOR", and what vLLM logged."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", AUTO_DTYPE, *devices], capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and "No module named 'vllm" in out.stderr:
        pytest.skip("not run: no vLLM installed here")
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line), out.stderr


def test_t4_serves_bf16_weights_in_float16_through_vllms_auto_dtype(m):
    """Erratum t4-bf16: the suite passes no --dtype on a GPU (vLLM's default --dtype auto); on a T4, which
    has no BF16, vLLM then serves the BF16 checkpoints in float16, saying so in its log; on L4 in bfloat16."""
    for name, model in m.models.items():
        if "T4" in model.gpus:
            t4 = gpu_mod.serve_config(m, m.serve_config(model, "gpu"), model, gpu_mod.host_gpu(m, "T4"))
            assert not any(a == "--dtype" or a.startswith("--dtype=") for a in t4.args), (name, t4.args)
    dtypes, log = _vllm_auto_dtypes("Tesla T4:7:5", "NVIDIA L4:8:9")
    assert dtypes == {"Tesla T4": "torch.float16", "NVIDIA L4": "torch.bfloat16"}
    assert "Your device 'Tesla T4' (with compute capability 7.5) doesn't support torch.bfloat16. Falling back to " \
           "torch.float16 for compatibility." in log


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
    assert "SKIPPED [4] suites/test_loading.py: not applicable: LFM2.5-8B-A1B needs >= 24 GB; T4 has 16 GB" in result.stdout
    assert "not applicable: the guide lists LFM2.5-VL-450M on H100, H200, B200 only, not on T4" in result.stdout
    assert "12 skipped" in result.stdout  # 4 loading checks x 3 models


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
