"""The suite's data against the guide's own text, read at test time (suites/lfm2.5-vllm-usage-guide.md,
parsed by lfm_conformance/data/guide.py), per model, no server: the sampling preset is the
"Recommended Sampling" row, the serve flags are those of the guide's full `vllm serve` command for the
model (where it prints one), the Docker command is the guide's `docker run` plus the row's documented
changes, and the benchmark protocol is the guide's `vllm bench serve`. A matrix.yaml value or a
command builder that drifts from the guide fails here, before any server could hide it."""
import pytest

from lfm_conformance.checks import guide as check
from lfm_conformance.data import guide as guide_mod
from lfm_conformance.harness import plugin
from lfm_conformance.serving import docker
from lfm_conformance.serving import gpu as gpu_mod
from lfm_conformance.workloads import benchmarks


def pytest_generate_tests(metafunc):
    """One Docker case per matrix GPU (the image and environment depend on it), as a parametrize mark
    so the id reads model first: [LFM2.5-230M-cpu-B200]."""
    if "gpu" in metafunc.fixturenames:
        gpus = list(plugin.run_state(metafunc.config).matrix.gpus)
        metafunc.definition.add_marker(pytest.mark.parametrize("gpu", gpus))


@pytest.fixture(scope="module")
def guide():
    return guide_mod.load()


def test_preset_equals_guide_table(model, matrix, guide):
    row = matrix.models[model.name]
    check.preset_equals_guide(row.name, row.preset, guide_mod.sampling_presets(guide).get(row.hf_id))


def test_serve_flags_equal_guide_command(model, matrix, guide):
    """The guide's full serve commands (Function Calling / Tool Use); the other sections' `vllm serve`
    lines show one addition each (a knob, prefix caching off) and are checked with those."""
    row = matrix.models[model.name]
    commands = [c.argv for c in guide.commands("Function Calling / Tool Use", "vllm serve") if c.argv[2:3] == [row.hf_id]]
    if not commands:
        pytest.skip(f"not applicable: the guide prints no full `vllm serve` command for {row.name}")
    for argv in commands:
        check.serve_flags_follow_guide(row.name, row.serve_flags, argv)


def test_docker_command_equals_guide(model, matrix, guide, gpu):
    row = matrix.models[model.name]
    host = gpu_mod.host_gpu(matrix, gpu)
    verdict = gpu_mod.select(matrix, row, host)
    if not verdict.applicable:
        pytest.skip(gpu_mod.NOT_APPLICABLE + verdict.reason)
    # The row's documented changes, from matrix.yaml: flag sets, the guide's context cap for this GPU,
    # the Blackwell environment ("Auto-enabled on Blackwell by these recipes").
    cap = gpu_mod.fleet(matrix).context_caps.get(row.name, {}).get(gpu)
    flags = [*row.serve_flags, *(("--max-model-len", str(cap)) if cap else ())]
    env = row.blackwell_env if host.blackwell else {}
    image = check.guide_image(guide.commands("Docker", "docker pull"), host.blackwell)
    check.docker_run_follows_guide(docker.command(matrix, row.name, gpu), guide.commands("Docker Deployment", "docker run")[0].argv,
                                   image=image, hf_id=row.hf_id, flags=flags, env=env)


def test_benchmark_protocol_equals_guide(model, matrix, guide):
    plan = benchmarks.plan(matrix, "gpu")  # the real weights' protocol; the CPU one is a scaled copy
    guide_serve = guide.commands("Benchmarking", "vllm serve")[0].argv
    guide_bench = guide.commands("Benchmarking", "vllm bench serve")[0].argv
    check.benchmark_follows_guide(plan.profile.bench_args(), plan.serve_args, guide_bench, guide_serve)
