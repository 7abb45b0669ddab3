"""Known deviations: data keyed by vLLM version, applied as strict expected failures."""
import json
from types import SimpleNamespace

import pytest
import yaml

from lfm_conformance.checks import CheckFailed
from lfm_conformance.data import deviations
from lfm_conformance.harness import outcomes
from tests.conftest import run_pytest

ENTRY = {"id": "reasoning-field-renamed", "check": "test_reasoning_in_documented_field", "owner": "guide",
         "models": ["LFM2.5-1.2B-Thinking"], "vllm": ">=0.14", "documented": "reasoning_content",
         "observed": "reasoning", "evidence": "message: {reasoning: '...', content: '...'}",
         "signature": {"problem": "^the reasoning is not in the documented field reasoning_content$",
                       "observed": "found in 'reasoning'$"}}


def _load(tmp_path, entries, version):
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(entries))
    return deviations.load(path, vllm_version=version)


def test_matches_by_check_model_and_version(tmp_path):
    known = _load(tmp_path, [ENTRY], "0.32.0")
    dev = known.match("test_reasoning_in_documented_field", "LFM2.5-1.2B-Thinking", "cpu")
    assert dev is not None and "documented: reasoning_content; observed: reasoning" in dev.reason()
    assert known.match("test_reasoning_in_documented_field", "LFM2.5-8B-A1B", "cpu") is None
    assert known.match("test_other", "LFM2.5-1.2B-Thinking", "cpu") is None


def test_version_outside_specifier_does_not_match(tmp_path):
    known = _load(tmp_path, [ENTRY], "0.13.0")
    assert known.match("test_reasoning_in_documented_field", "LFM2.5-1.2B-Thinking", "cpu") is None


def test_target_restriction(tmp_path):
    known = _load(tmp_path, [{**ENTRY, "targets": ["gpu"]}], "0.32.0")
    assert known.match("test_reasoning_in_documented_field", "LFM2.5-1.2B-Thinking", "cpu") is None


def test_case_restriction_for_table_driven_tests(tmp_path):
    known = _load(tmp_path, [{**ENTRY, "cases": ["unknown-role"]}], "0.32.0")
    check, model = "test_reasoning_in_documented_field", "LFM2.5-1.2B-Thinking"
    assert known.match(check, model, "cpu", case="unknown-role") is not None
    assert known.match(check, model, "cpu", case="malformed-json") is None
    assert known.match(check, model, "cpu") is None


@pytest.mark.parametrize("param_id,model_id,case", [
    ("LFM2.5-230M-cpu", "LFM2.5-230M-cpu", None),
    ("LFM2.5-230M-cpu-malformed-json", "LFM2.5-230M-cpu", "malformed-json"),  # the robustness table's `case`
    ("LFM2.5-230M-gpu-fixture-generated_00", "LFM2.5-230M-gpu-fixture", "generated_00"),  # any other parameter
    ("top_k=1-LFM2.5-230M-cpu", "LFM2.5-230M-cpu", "top_k=1"),  # parametrized before the model
    ("LFM2.5-1.2B-JP-202606-cpu-streaming", "LFM2.5-1.2B-JP-202606-cpu", "streaming"),
])
def test_case_id_is_the_parameters_besides_the_model(param_id, model_id, case):
    assert deviations.case_id(param_id, model_id) == case


def test_entry_without_evidence_is_rejected(tmp_path):
    entry = dict(ENTRY)
    del entry["evidence"]
    with pytest.raises(ValueError, match="'evidence' is a required property"):
        _load(tmp_path, [entry], "0.32.0")


def test_shipped_file_is_valid():
    deviations.load()


def test_deviation_that_no_longer_happens_is_an_unexpected_pass(tmp_path):
    """A deviation recorded for a check that passes makes the run fail with XPASS! in the grid."""
    entry = {**ENTRY, "id": "fake", "check": "test_resolved_architecture_matches_matrix",
             "models": ["LFM2.5-VL-450M"], "vllm": ">=0"}
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump([entry]))
    result = run_pytest("suites/test_loading.py", "-m", "model_vl_450m", "-k", "resolved_architecture",
                        f"--deviations={path}", f"--reports={tmp_path}")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "XPASS(strict)" in result.stdout and "XPASS! LFM2.5-VL-450M / loading" in result.stdout


def _carrying(deviation):
    item = SimpleNamespace(stash=pytest.Stash())
    item.stash[outcomes.DEVIATION] = deviation
    return item


RENAMED = CheckFailed("the reasoning is not in the documented field reasoning_content",
                      "message.reasoning_content holds the chain of thought",
                      "reasoning_content=None; reasoning found in 'reasoning'")
SWAPPED = CheckFailed("the reasoning and the answer are not split as the model wrote them",
                      "reasoning 'think'; content 'answer'", "reasoning 'answer'; content 'think'")


def test_the_recorded_failure_matches_its_signature(tmp_path):
    dev = _load(tmp_path, [ENTRY], "0.32.0").entries[0]
    assert dev.mismatches(RENAMED) == []
    outcomes.against_signature(_carrying(dev), RENAMED)  # the deviation itself: left to the strict xfail


def test_a_different_failure_is_not_the_deviation(tmp_path):
    """A test carrying a known deviation that fails differently is a plain failure naming both."""
    dev = _load(tmp_path, [ENTRY], "0.32.0").entries[0]
    with pytest.raises(outcomes.DeviationMismatch) as info:
        outcomes.against_signature(_carrying(dev), SWAPPED)
    text = str(info.value)
    assert "not split as the model wrote them" in text and "reasoning 'answer'; content 'think'" in text
    assert "known deviation reasoning-field-renamed" in text and "not matched: " in text and "problem ~ /" in text
    assert not isinstance(info.value, CheckFailed)  # so xfail(raises=CheckFailed) cannot swallow it
    assert outcomes.failure_kind(info.value) == "check"


def test_the_problem_pattern_matches_the_whole_problem(tmp_path):
    """`problem` is matched against the whole text: a pattern naming part of it matches nothing."""
    dev = _load(tmp_path, [{**ENTRY, "signature": {"problem": "not in the documented field"}}], "0.32.0").entries[0]
    assert dev.mismatches(RENAMED) == ["problem ~ /not in the documented field/"]


DRIFT = {"problem": "^drift$", "observed": r"^max (?P<size>\d+\.\d+) first at (?P<first>\d+)$",
         "bounds": {"size": {"max": 1.7}, "first": {"min": 2, "max": 2}}}


@pytest.mark.parametrize("observed,mismatches", [
    ("max 1.598 first at 2", []),
    ("max 1.700 first at 2", []),
    ("max 1.701 first at 2", ["-inf <= size <= 1.7 (observed 1.701)"]),
    ("max 15.980 first at 9", ["-inf <= size <= 1.7 (observed 15.980)", "2 <= first <= 2 (observed 9)"]),
    ("max 0.500 first at 1", ["2 <= first <= 2 (observed 1)"]),
    ("a drift", ["observed ~ /^max (?P<size>\\d+\\.\\d+) first at (?P<first>\\d+)$/",
                 "-inf <= size <= 1.7 (observed None)", "2 <= first <= 2 (observed None)"]),
], ids=["recorded", "at-bound", "over-max", "larger-and-later", "earlier", "other-text"])
def test_bounds_limit_the_captured_figures(tmp_path, observed, mismatches):
    dev = _load(tmp_path, [{**ENTRY, "signature": DRIFT}], "0.32.0").entries[0]
    assert sorted(dev.mismatches(SimpleNamespace(problem="drift", observed=observed))) == sorted(mismatches)
    assert {"-inf <= size <= 1.7", "2 <= first <= 2"} <= set(dev.signature_text().split("; "))


@pytest.mark.parametrize("signature,error", [
    ({}, "'problem' is a required property"),
    ({"observed": "x"}, "'problem' is a required property"),
    ({"problem": "("}, r"signature.problem \(deviation reasoning-field-renamed\): invalid regular expression"),
    ({"problem": "x", "wording": "x"}, "unknown key .wording.; allowed keys: bounds, observed, problem"),
    ({"problem": "x", "bounds": {"size": {"max": 1}}},
     r"signature.bounds.size \(deviation reasoning-field-renamed\): no named group \(\?P<size>...\) in its patterns"),
    ({"problem": "x (?P<size>\\d+)", "bounds": {"size": {"min": 2, "max": 1}}}, "signature.bounds.size .*: min above max"),
    ({"problem": "x (?P<size>\\d+)", "bounds": {"size": {}}}, "should be non-empty|does not have enough properties"),
])
def test_bad_signature_is_named(tmp_path, signature, error):
    with pytest.raises(ValueError, match=error):
        _load(tmp_path, [{**ENTRY, "signature": signature}], "0.32.0")


def test_a_deviation_failing_differently_turns_a_real_run_red(tmp_path):
    """On the Thinking fixture (a real server), test_reasoning_in_documented_field fails as
    reasoning-field-renamed records; with a signature that does not describe that failure the run
    reports a plain FAIL and exits 1, where the recorded signature keeps it a known deviation."""
    recorded = next(d for d in yaml.safe_load(deviations.DEFAULT_FILE.read_text()) if d["id"] == "reasoning-field-renamed")
    args = ("suites/test_reasoning.py", "-m", "model_1_2b", "-k", "test_reasoning_in_documented_field and Thinking")
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump([{**recorded, "signature": {**recorded["signature"],
                                                                "observed": "^a failure vLLM does not show$"}}]))
    red = run_pytest(*args, f"--deviations={path}", f"--reports={tmp_path / 'red'}")
    assert red.returncode == 1, red.stdout[-3000:]
    assert "differs from known deviation reasoning-field-renamed" in red.stdout
    record = json.loads((tmp_path / "red" / "results.json").read_text())["records"][0]
    assert record["status"] == "fail" and "not matched: observed ~ /^a failure vLLM does not show$/" in record["evidence"]
    green = run_pytest(*args, f"--reports={tmp_path / 'green'}")
    assert green.returncode == 0, green.stdout[-3000:]
    assert json.loads((tmp_path / "green" / "results.json").read_text())["records"][0]["status"] == "known-deviation"
