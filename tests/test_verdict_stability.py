"""scripts/verdict_stability.py: the same selection run again must give every check the same outcome.
Hand-built results documents (tests/results_factory.py) and a fake ./run: no server."""
import importlib.util
import json
import sys
from pathlib import Path

from tests import results_factory as rf

SPEC = importlib.util.spec_from_file_location("verdict_stability",
                                              Path(__file__).parent.parent / "scripts" / "verdict_stability.py")
stability = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(stability)

PERF = {"kind": "perf", "test": "protocol", "model": "LFM2.5-230M", "where": "cpu", "output_throughput": 100.0}
FINDING = dict(suite="parser_findings", check="test_recorded_finding_still_fails", case="tool-call-in-think")


def _finding(status) -> dict:
    """A recorded parser finding: DEV while vLLM still fails it, XPASS! the run it does not."""
    reason = ("known deviation parser-finding (vLLM >=0.32): ..." if status == "known-deviation" else
              "known deviation parser-finding no longer happens: review it and remove it from suites/known_deviations.yaml")
    return rf.record(status=status, reason=reason, deviation=rf.DEVIATION,
                     evidence="tool call inside <think> parsed\n  expected: no tool_calls\n  observed: []", **FINDING)


def _perf(throughput, status="measured") -> dict:
    return rf.record(suite="perf", check="test_benchmark_protocol", case="baseline", status=status,
                     figures=[{**PERF, "output_throughput": throughput}])


def _files(tmp_path, *docs) -> list[str]:
    paths = []
    for i, doc in enumerate(docs, 1):
        paths.append(tmp_path / f"run-{i}" / "results.json")
        paths[-1].parent.mkdir()
        paths[-1].write_text(json.dumps(doc))
    return [str(p) for p in paths]


def test_identical_runs_are_stable(tmp_path, capsys):
    assert stability.main(["--compare", *_files(tmp_path, rf.doc(), rf.doc(), rf.doc())]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "stable: 2 checks, identical outcomes in 3 runs"
    assert "moved" not in out


def test_a_status_flip_is_reported_with_both_outcomes(tmp_path, capsys):
    files = _files(tmp_path, rf.doc(records=[rf.record(), _finding("known-deviation")]),
                   rf.doc(records=[rf.record(), _finding("unexpected-pass")]))
    assert stability.main(["--compare", *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "moved: LFM2.5-230M / cpu / parser_findings / test_recorded_finding_still_fails [tool-call-in-think]"
    assert lines[1].startswith(f"  run 1 ({files[0]}): DEV  known deviation parser-finding (vLLM")
    assert lines[2] == "      | tool call inside <think> parsed"
    assert lines[5].startswith(f"  run 2 ({files[1]}): XPASS!  known deviation parser-finding no longer happens")
    assert lines[-3:] == [f"run 1 ({files[0]}): verdict SIGN-OFF", f"run 2 ({files[1]}): verdict BLOCKED",
                          "UNSTABLE: 1 of 2 checks moved in 2 runs; verdict moved: SIGN-OFF / BLOCKED"]


def test_measured_figures_that_differ_are_not_instability_but_their_status_is():
    same = stability.compare([rf.doc(records=[_perf(100.0)]), rf.doc(records=[_perf(81.5)])])
    assert same["moved"] == [] and stability.stable(same)
    moved = stability.compare([rf.doc(records=[_perf(100.0)]), rf.doc(records=[_perf(100.0, status="error")])])
    assert [e["record"]["check"] for e in moved["moved"]] == ["test_benchmark_protocol"]


def test_a_verdict_that_moves_without_a_check_is_instability_and_other_builds_are_named():
    outcome = stability.compare([rf.doc(), rf.doc(exit_status=2)])  # an interrupted run: BLOCKED
    assert outcome["moved"] == [] and not stability.stable(outcome)
    assert stability.render(outcome, ["run 1", "run 2"])[-1] == (
        "UNSTABLE: 0 of 2 checks moved in 2 runs; verdict moved: SIGN-OFF / BLOCKED")
    other = rf.doc(commit="f" * 40)
    other["runs"][0]["environment"]["vllm"] = "0.26.0"
    assert stability.compare([rf.doc(), other])["builds"] == ["suite commit: 0123456789ab / ffffffffffff",
                                                              "vLLM: 0.32.0 / 0.26.0"]
    assert "note: the runs differ in vLLM: 0.32.0 / 0.26.0" in stability.render(stability.compare([rf.doc(), other]),
                                                                               ["run 1", "run 2"])


def test_a_record_missing_in_one_run_is_reported(tmp_path, capsys):
    files = _files(tmp_path, rf.doc(), rf.doc(records=rf.doc()["records"][:1]), rf.doc())
    assert stability.main(["--compare", *files]) == 1
    out = capsys.readouterr().out
    assert "moved: LFM2.5-1.2B-Thinking / cpu / reasoning / test_reasoning_in_documented_field" in out
    assert f"  run 2 ({files[1]}): no record" in out
    assert out.splitlines()[-1].startswith("UNSTABLE: 1 of 2 checks moved in 3 runs")


def test_a_missing_or_unreadable_file_is_bad_input_named(tmp_path, capsys):
    good = _files(tmp_path, rf.doc())[0]
    missing = tmp_path / "nowhere" / "results.json"
    assert stability.main(["--compare", good, str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert stability.main(["--compare", good, str(broken)]) == 2
    assert f"{broken}: not valid JSON" in capsys.readouterr().err


FAKE_RUN = """
import json, pathlib, sys
calls = pathlib.Path(sys.argv[1])
calls.write_text(calls.read_text() + json.dumps(sys.argv[2:]) + "\\n" if calls.exists() else json.dumps(sys.argv[2:]) + "\\n")
docs = json.loads(pathlib.Path(sys.argv[0]).with_name("docs.json").read_text())
reports = pathlib.Path(sys.argv[-1].removeprefix("--reports="))
(reports / "results.json").write_text(json.dumps(docs[len(calls.read_text().splitlines()) - 1]))
print("sign-off: done")
"""


def _fake_run(tmp_path, docs) -> tuple[str, Path]:
    """A stand-in for ./run that writes the next of `docs` into its --reports folder and logs its arguments."""
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    (tmp_path / "docs.json").write_text(json.dumps(docs))
    calls = tmp_path / "calls.jsonl"
    return f"{sys.executable} {fake} {calls}", calls


def test_runs_mode_runs_the_command_k_times_each_into_its_own_folder(tmp_path, capsys):
    fake, calls = _fake_run(tmp_path, [rf.doc(), rf.doc()])
    out_dir = tmp_path / "stability"
    (out_dir / "run-2").mkdir(parents=True)
    (out_dir / "run-2" / "results.json").write_text("stale")  # an earlier stability run's file is replaced
    rc = stability.main(["--runs", "2", "--command", "tests", "--run-command", fake, "--out", str(out_dir),
                         "--", "-m", "model_230m", "-k", "parser_finding or tool_calls"])
    assert rc == 0
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [
        ["tests", "-m", "model_230m", "-k", "parser_finding or tool_calls", f"--reports={out_dir / f'run-{i}'}"]
        for i in (1, 2)]
    assert (out_dir / "run-1" / "run.log").read_text() == "sign-off: done\n"
    assert capsys.readouterr().out.splitlines()[-1] == "stable: 2 checks, identical outcomes in 2 runs"


def test_runs_mode_reports_a_moved_check_and_a_run_without_results(tmp_path, capsys):
    fake, _ = _fake_run(tmp_path, [rf.doc(records=[_finding("known-deviation")]),
                                   rf.doc(records=[_finding("unexpected-pass")])])
    assert stability.main(["--runs", "2", "--run-command", fake, "--out", str(tmp_path / "s")]) == 1
    assert "UNSTABLE: 1 of 1 checks moved in 2 runs" in capsys.readouterr().out
    silent = tmp_path / "silent.py"
    silent.write_text("")  # a run that wrote no results.json
    assert stability.main(["--runs", "2", "--run-command", f"{sys.executable} {silent}",
                           "--out", str(tmp_path / "t")]) == 2
    assert str(tmp_path / "t" / "run-1" / "results.json") in capsys.readouterr().err
