"""matrix.yaml: the shipped file is complete; a broken one gives one clear line."""
import copy

import pytest

from lfm_conformance.data import matrix as matrix_mod
from tests.conftest import run_pytest

GUIDE_MODELS = {"LFM2.5-230M", "LFM2.5-350M", "LFM2.5-1.2B-Instruct", "LFM2.5-1.2B-Thinking", "LFM2.5-1.2B-JP",
                "LFM2.5-1.2B-JP-202606", "LFM2.5-1.2B-Base", "LFM2.5-8B-A1B", "LFM2.5-VL-450M", "LFM2.5-VL-1.6B"}
GUIDE_GPUS = {"T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200"}


def test_shipped_matrix_has_every_model_and_gpu_of_the_guide():
    m = matrix_mod.load()
    assert set(m.models) == GUIDE_MODELS
    assert set(m.gpus) == GUIDE_GPUS


def test_documented_flags_come_from_flag_sets():
    m = matrix_mod.load()
    assert m.models["LFM2.5-8B-A1B"].serve_flags == (
        "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "lfm2")
    assert m.models["LFM2.5-VL-450M"].serve_flags == ("--limit-mm-per-prompt", '{"image": 4}')
    assert m.models["LFM2.5-1.2B-Base"].serve_flags == ()
    assert m.models["LFM2.5-8B-A1B"].context == 128000


def test_cpu_configs_share_servers_between_models_with_same_fixture_and_flags():
    m = matrix_mod.load()
    names = {m.serve_config(model, "cpu").name for model in m.models.values()}
    assert names == {"cpu-dense-chat+tool_calling", "cpu-dense-thinking+reasoning+tool_calling", "cpu-dense-chat",
                     "cpu-dense-base", "cpu-moe-thinking+reasoning+tool_calling", "cpu-vl+multi_image"}
    gpu = {m.serve_config(model, "gpu").name for model in m.models.values()}
    assert len(gpu) == len(m.models)  # real weights: one server per model


def _broken(data, mutate):
    data = copy.deepcopy(data)
    mutate(data)
    return data


BROKEN = {
    "unknown-key": (lambda d: d["models"]["LFM2.5-230M"].update(contxt=1),
                    "models.LFM2.5-230M: unknown key 'contxt'; allowed keys: "),
    "wrong-type": (lambda d: d["models"]["LFM2.5-350M"].update(context="32K"),
                   "models.LFM2.5-350M.context: '32K' has the wrong type; expected integer"),
    "unknown-gpu": (lambda d: d["models"]["LFM2.5-8B-A1B"].update(gpus=["H100", "RTX4090"]),
                    "models.LFM2.5-8B-A1B.gpus[1]: 'RTX4090' is not allowed; allowed values: A100-40GB, A100-80GB,"),
    "unknown-fixture": (lambda d: d["models"]["LFM2.5-VL-450M"].update(fixture="vl-big"),
                        "models.LFM2.5-VL-450M.fixture: 'vl-big' is not allowed; allowed values: dense-base"),
    "unknown-capability": (lambda d: d["models"]["LFM2.5-230M"]["capabilities"].append("audio"),
                           "models.LFM2.5-230M.capabilities[2]: 'audio' is not allowed; allowed values: chat, tools"),
    "unknown-flag-set": (lambda d: d["models"]["LFM2.5-230M"]["flag_sets"].append("speculative"),
                         "models.LFM2.5-230M.flag_sets[1]: 'speculative' is not allowed; allowed values: "),
    "missing-field": (lambda d: d["models"]["LFM2.5-230M"].pop("hf_id"),
                      "models.LFM2.5-230M: 'hf_id' is a required property"),
    "fixture-architecture-mismatch": (lambda d: d["models"]["LFM2.5-8B-A1B"].update(fixture="dense-chat"),
                                      "models.LFM2.5-8B-A1B.fixture: 'dense-chat' is a Lfm2ForCausalLM"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_matrix_gives_one_line_naming_file_path_and_allowed_values(case, matrix_data, write_matrix):
    mutate, expected = BROKEN[case]
    path = write_matrix(_broken(matrix_data, mutate))
    with pytest.raises(matrix_mod.MatrixError) as info:
        matrix_mod.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_invalid_yaml_names_line_and_column(write_matrix):
    path = write_matrix("models: [unclosed\n")
    with pytest.raises(matrix_mod.MatrixError, match=r"line \d+, column \d+: not valid YAML"):
        matrix_mod.load(path)


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(matrix_mod.MatrixError, match="cannot read"):
        matrix_mod.load(tmp_path / "nope.yaml")


def test_pytest_with_broken_matrix_exits_nonzero_with_one_line_and_no_traceback(matrix_data, write_matrix):
    path = write_matrix(_broken(matrix_data, BROKEN["unknown-gpu"][0]))
    result = run_pytest("suites", "--collect-only", "-q", f"--matrix={path}", timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "RTX4090" in line]
    assert len(lines) == 1 and str(path) in lines[0] and "allowed values" in lines[0]


def test_unknown_target_is_rejected_with_allowed_values():
    result = run_pytest("suites", "--collect-only", "-q", "--target=tpu", timeout=120)
    assert result.returncode != 0
    assert "--target 'tpu'" in result.stderr + result.stdout and "allowed values: cpu, cpu-hf, gpu" in result.stderr + result.stdout
