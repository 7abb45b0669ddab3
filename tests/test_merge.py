"""Merging results.json files from several machines into one model x GPU x behaviour report."""
import json
import subprocess
import sys

import jsonschema
import pytest

from lfm_conformance.report import merge, results
from tests import results_factory as rf
from tests.conftest import ROOT


def _write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _cpu_and_h100(tmp_path, **h100_run):
    cpu = _write(tmp_path, "cpu.json", rf.doc("cpu"))
    h100 = _write(tmp_path, "h100.json", rf.doc("H100", **h100_run))
    return cpu, h100


def test_cpu_and_h100_give_one_grid(tmp_path):
    cpu, h100 = _cpu_and_h100(tmp_path)
    out = tmp_path / "merged"
    assert merge.main([str(cpu), str(h100), "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator(results.schema()).validate(doc)
    assert [r["where"] for r in doc["runs"]] == ["cpu", "H100"] and len(doc["records"]) == 4
    assert doc["suite_commit"] == rf.COMMIT and doc["merged_from"] == [str(cpu), str(h100)]
    md = (out / "signoff.md").read_text()
    # one row per model, one line per GPU/target in each cell
    assert "| LFM2.5-230M | cpu: PASS (1)<br>H100: PASS (1) |  |" in md
    assert ("| LFM2.5-1.2B-Thinking |  | cpu: DEV (1) reasoning-field-renamed<br>"
            "H100: DEV (1) reasoning-field-renamed |") in md
    assert md.count("| LFM2.5-230M |") == 1 + 2  # the grid row, plus a row per GPU/target in "Every check"
    assert "### H100" in md and "NVIDIA H100 80GB HBM3, 81559 MiB, driver 580.65" in md
    assert (out / "signoff.html").read_text().count('class="model"') == 2


def test_a_failure_on_one_gpu_blocks_the_merged_report(tmp_path):
    bad = rf.doc("H100", records=[rf.record(where="H100", status="fail", reason="reply has no text",
                                            evidence="reply has no text\n  expected: text\n  observed: ''")])
    paths = [_write(tmp_path, "cpu.json", rf.doc("cpu")), _write(tmp_path, "h100.json", bad)]
    assert merge.main([*map(str, paths), "--out", str(tmp_path / "m")]) == 1
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    assert doc["summary"]["blocking"] == ["FAIL loading / test_first_request_returns_text: reply has no text "
                                          "[1 case: LFM2.5-230M / H100]"]


def test_failures_outside_the_checks_block_only_their_own_run():
    cpu = rf.doc("cpu", records=[rf.record(status="fail", reason="broken")], exit_status=1)
    h100 = rf.doc("H100", records=[rf.record(where="H100")], exit_status=1)
    doc = merge_docs(cpu, h100)
    assert doc["summary"]["notes"] == ["H100: pytest reported failures outside the conformance checks (see junit.xml) "
                                       "(pytest exit status 1)"]


def merge_docs(*docs):
    return results.assemble([r for d in docs for r in d["runs"]], [r for d in docs for r in d["records"]])


@pytest.mark.parametrize("field,h100_run,words", [
    ("commit", {"commit": "f" * 40}, "different suite commits"),
    ("matrix", {"matrix_sha": "cd" * 32}, "different matrix hashes")])
def test_mismatched_inputs_are_refused_with_one_line(tmp_path, capsys, field, h100_run, words):
    cpu, h100 = _cpu_and_h100(tmp_path, **h100_run)
    out = tmp_path / "merged"
    assert merge.main([str(cpu), str(h100), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "--allow-mismatch" in err and str(h100) in err
    assert not out.exists()


def test_allow_mismatch_merges_anyway(tmp_path):
    cpu, h100 = _cpu_and_h100(tmp_path, commit="f" * 40, matrix_sha="cd" * 32)
    out = tmp_path / "merged"
    assert merge.main([str(cpu), str(h100), "--out", str(out), "--allow-mismatch"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["suite_commit"] is None and doc["matrix_sha256"] is None
    assert {r["suite_commit"] for r in doc["runs"]} == {rf.COMMIT, "f" * 40}


def test_the_same_check_twice_is_refused(tmp_path, capsys):
    a, b = _write(tmp_path, "a.json", rf.doc("cpu")), _write(tmp_path, "b.json", rf.doc("cpu"))
    assert merge.main([str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    assert "both hold LFM2.5-230M on cpu / test_first_request_returns_text" in capsys.readouterr().err


def test_a_file_that_is_not_results_json_is_named(tmp_path, capsys):
    broken = rf.doc("cpu")
    broken["records"][0]["status"] = "flaky"
    path = _write(tmp_path, "broken.json", broken)
    assert merge.main([str(path), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: records[0].status: 'flaky' is not allowed; allowed values: fail, error" in err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert merge.main([str(garbage), "--out", str(tmp_path / "m")]) == 2
    assert f"{garbage}: not valid JSON" in capsys.readouterr().err


def test_the_cli_the_fan_out_calls(tmp_path):
    cpu, h100 = _cpu_and_h100(tmp_path, commit="f" * 40)
    cmd = [sys.executable, "-m", "lfm_conformance.report.merge", str(cpu), str(h100), "--out", str(tmp_path / "m")]
    refused = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.startswith("error: the results come from different suite commits")
    merged = subprocess.run(cmd + ["--allow-mismatch"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.startswith("SIGN-OFF: 4 checks from 2 runs (cpu, H100); wrote ")
