"""scripts/suite_speed.py --command: phases read from ./run's own output, and each run judged
against the speed targets (a run that built something is judged in place without its builds)."""
import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("suite_speed", Path(__file__).parent.parent / "scripts" / "suite_speed.py")
speed = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(speed)

TESTS_RUN = [  # (seconds since start, line) as ./run tests prints them, a second release built mid-run
    (2.0, "environment: reusing /cache/venv-vllm0.32.0-x"),
    (3.0, "fixture dense-chat: built in 300.0 s (426 steps, final loss 0.0004) -> /cache/f"),
    (303.0, "fixtures ready in 300.5 s (1 built)"),
    (304.0, "set-up before tests: 304 s"),
    (900.0, "==== 1 failed, 99 passed, 3 skipped in 590.1s ===="),
    (901.0, "vLLM 0.26.0: the CI selection (model_350m or model_1_2b)"),
    (905.0, "environment: building /cache/venv-vllm0.26.0-y (vLLM 0.26.0; first run: several minutes, ~6 GB)"),
    (1030.0, "environment: ready in 125 s"),
    (1500.0, "(end)"),
]


def test_phases_follow_the_lines_that_end_them():
    phases = [(name, round(seconds)) for name, seconds, _ in speed.phases_of(TESTS_RUN)]
    assert phases == [("environment (in place)", 2), ("fixture build", 301), ("set-up, rest", 1),
                      ("pytest", 597), ("environment build", 129), ("pytest", 470)]


def test_pytest_summary_lines_are_found_and_others_are_not():
    assert speed.PYTEST_SUMMARY.search(TESTS_RUN[4][1])
    assert not speed.PYTEST_SUMMARY.search("vLLM servers started: 23 for 23 distinct configurations")


def test_a_run_that_built_is_judged_in_place_without_its_builds_and_fresh_with_them():
    assert speed.judged("tests", [], 1, 1500.0, 430.0) == [("tests, environment and fixtures in place", 1070.0)]
    assert speed.judged("conformance", [], 1, 1500.0, 430.0) == [
        ("conformance, set-up included (fresh machine)", 1500.0),
        ("conformance, environment and fixtures in place", 1070.0)]
    assert speed.judged("conformance", [], 1, 400.0, 0.0) == [("conformance, environment and fixtures in place", 400.0)]


def test_model_1_2b_runs_are_cold_then_warm_only_with_reuse_and_other_subsets_unjudged():
    reuse = ["-m", "model_1_2b", "--reuse-servers"]
    assert speed.judged("conformance", reuse, 1, 300.0, 0.0) == [("-m model_1_2b, cold", 300.0)]
    assert speed.judged("conformance", reuse, 2, 50.0, 0.0) == [("-m model_1_2b, second run with --reuse-servers", 50.0)]
    assert speed.judged("conformance", ["-m", "model_1_2b"], 2, 50.0, 0.0) == [("-m model_1_2b, cold", 50.0)]
    assert speed.judged("conformance", ["-m", "model_230m"], 1, 50.0, 0.0) == []
    assert set(label for label, _ in speed.judged("conformance", [], 1, 1.0, 1.0)) <= set(speed.TARGETS)
