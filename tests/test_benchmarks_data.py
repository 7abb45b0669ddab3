"""matrix.yaml `benchmarks`: the plan per target, where knobs apply, and clear errors on bad data."""
import pytest

from lfm_conformance.data import matrix
from lfm_conformance.workloads import benchmarks


def test_cpu_plan_reads_the_guide_protocol_and_knobs():
    m = matrix.load()
    plan = benchmarks.plan(m, "cpu")
    assert plan.serve_args == ("--no-enable-prefix-caching",)
    guide = benchmarks.plan(m, "gpu").profile
    assert (guide.input_len, guide.output_len, guide.request_rate, guide.num_prompts, guide.ignore_eos) == \
        (1000, 1000, 10000, 64, True)
    assert guide.bench_args() == ["--dataset-name", "random", "--random-input-len", "1000", "--random-output-len",
                                  "1000", "--request-rate", "10000", "--num-prompts", "64", "--ignore-eos"]
    knobs = {k.name: k for k in plan.knobs}
    assert knobs["oink-ops"].setting == "VLLM_USE_OINK_OPS=1"
    assert knobs["mamba-cache-mode-all"].setting == "--mamba-cache-mode all"
    small, vl, moe = m.models["LFM2.5-230M"], m.models["LFM2.5-VL-450M"], m.models["LFM2.5-8B-A1B"]
    assert plan.knob_skip_reason(knobs["fastokens"], small, "cpu") is None
    assert "never reads it" in plan.knob_skip_reason(knobs["oink-ops"], small, "cpu")
    assert "capability 'vision'" in plan.knob_skip_reason(knobs["mm-processor-cache-shm"], small, "cpu")
    assert plan.knob_skip_reason(knobs["mm-processor-cache-shm"], vl, "cpu") is None
    assert "checked on LFM2.5-230M" in plan.knob_skip_reason(knobs["fastokens"], moe, "cpu")
    gpu = benchmarks.plan(m, "gpu")
    assert gpu.knob_skip_reason(knobs["oink-ops"], moe, "H100") is None  # checked to be inert off Blackwell


def test_tensor_parallel_setting_is_read_for_every_target():
    m = matrix.load()
    for target in ("cpu", "gpu"):
        tp = benchmarks.plan(m, target).tensor_parallel
        assert (tp.name, tp.args, tp.gpus, tp.max_gain) == ("tensor-parallel-2", ("--tensor-parallel-size", "2"), 2, 0.05)
        assert tp.setting == "--tensor-parallel-size 2"


def test_knob_config_names_are_readable_and_distinct():
    m = matrix.load()
    model = m.models["LFM2.5-230M"]
    base = m.serve_config(model, "cpu", extra_args=("--no-enable-prefix-caching",))
    env = m.serve_config(model, "cpu", extra_args=("--no-enable-prefix-caching",),
                         extra_env={"VLLM_SSM_CONV_STATE_LAYOUT": "DS"})
    flag = m.serve_config(model, "cpu", extra_args=("--no-enable-prefix-caching", "--optimization-level", "3"))
    assert base.name == "cpu-dense-chat+tool_calling+no-enable-prefix-caching"
    assert env.name == base.name + "+env=VLLM_SSM_CONV_STATE_LAYOUT=DS"
    assert env.env["VLLM_SSM_CONV_STATE_LAYOUT"] == "DS" and env.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert "VLLM_SSM_CONV_STATE_LAYOUT" not in base.env
    assert flag.name == base.name + "+optimization-level=3"


@pytest.mark.parametrize("edit,message", [
    (lambda b: b["targets"]["cpu"].update(profile="huge"), "benchmarks.targets.cpu.profile: 'huge' is not allowed; "
     "allowed values: guide, cpu"),
    (lambda b: b["targets"]["cpu"].update(models=["LFM2.5-9B"]), "'LFM2.5-9B' is not allowed; allowed values: "),
    (lambda b: b["baselines"].append({"model": "LFM2.5-230M", "where": "TPU", "metric": "output_throughput",
                                      "value": 1, "rtol": 0.1, "source": "x"}), "'TPU' is not allowed"),
    (lambda b: b["knobs"][0].update(promise="faster"), "'faster' is not allowed; allowed values: identical"),
    (lambda b: b["tensor_parallel"].update(gpus=1), "benchmarks.tensor_parallel.gpus: "),
], ids=["unknown-profile", "unknown-model", "unknown-gpu", "bad-promise", "tensor-parallel-on-one-gpu"])
def test_bad_benchmarks_data_names_field_and_allowed_values(matrix_data, write_matrix, edit, message):
    edit(matrix_data["benchmarks"])
    path = write_matrix(matrix_data)
    with pytest.raises(matrix.MatrixError) as info:
        benchmarks.plan(matrix.load(path), "cpu")
    assert str(path) in str(info.value) and message in str(info.value)


def test_figures_are_plain_json_numbers():
    """vLLM's result dict holds numpy numbers, which xdist cannot send between processes."""
    import json

    import numpy as np

    out = benchmarks.figures({"completed": np.int64(16), "failed": 0, "output_throughput": np.float64(310.5),
                              "p99_itl_ms": float("nan"), "ttfts": [0.1, 0.2]})
    assert type(out["completed"]) is int and type(out["output_throughput"]) is float and out["p99_itl_ms"] is None
    assert "ttfts" not in out and json.loads(json.dumps(out))["completed"] == 16
