"""The hand-over commands as a finding's owner runs them: `python -m lfm_conformance.report.upstream` writes
each report's repro.py (where it has one) and issue.md, `--list` writes nothing, an unknown id is one error
line; `python -m lfm_conformance.report.bisect ID` runs the repro with each release's environment (a
missing one named with its build command), prints first bad / last good, and keeps the record. One vLLM:
the one installed here."""
from importlib import util
import json

import pytest

from lfm_conformance.data import deviations
from lfm_conformance.report import bisect, upstream


def test_upstream_writes_the_script_and_draft_of_each_report_asked_for(tmp_path, capsys):
    kinds = {"float_exponent_streamed": "parser", "parser-properties-findings-0-32-streamed": "findings",
             "tool-without-description-rendered-as-null": "served", "cpu-rms-norm-non-contiguous-dense": "kernel"}
    assert upstream.main(["--out", str(tmp_path), *[a for i in kinds for a in ("--id", i)]]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and all(f" {kind} " in out for kind in kinds.values())
    served = (tmp_path / "tool-without-description-rendered-as-null" / "issue.md").read_text()
    assert "python repro.py --model LiquidAI/LFM2.5-350M" in served and "`tool_without_description`: `POST /tokenize`" in served
    assert "rms_norm" in (tmp_path / "cpu-rms-norm-non-contiguous-dense" / "issue.md").read_text()
    assert (tmp_path / "parser-float-exponent-streamed" / "repro.py").stat().st_mode & 0o111
    assert (tmp_path / "parser-float-exponent-streamed" / "issue.md").read_text().startswith("# lfm2 tool parser")
    made_of = tmp_path / "parser-properties-findings-0-32-streamed"
    assert (made_of / "issue.md").exists() and not (made_of / "repro.py").exists()


def test_upstream_list_writes_nothing_and_an_unknown_id_is_one_error(tmp_path, capsys):
    assert upstream.main(["--out", str(tmp_path / "x"), "--list"]) == 0
    assert not (tmp_path / "x").exists() and "tool-without-description-rendered-as-null" in capsys.readouterr().out
    assert upstream.main(["--id", "no-such-finding"]) == 2
    assert capsys.readouterr().err.startswith("error: no vLLM-owned known deviation or parser finding no-such-finding")


def test_bisect_refuses_what_has_no_script_of_its_own(capsys):
    assert bisect.main(["parser-properties-findings-0-32-parsed"]) == 2
    assert "made of parser findings; bisect each of them: surrogate_pair_escape" in capsys.readouterr().err
    assert bisect.main(["no-such-finding"]) == 2


def test_bisect_runs_the_installed_release_and_names_a_missing_one(capsys, monkeypatch):
    if not util.find_spec("vllm"):
        pytest.skip("not run: vLLM is not installed in this environment")
    here = deviations.installed_vllm_version()
    if bisect.find_env(here) is None:
        pytest.skip(f"not run: no complete environment of vLLM {here} under LFMC_HOME (this test runs in another)")
    # exit 1: a release was not judged (its environment is missing)
    assert bisect.main(["stop-token-streamed-into-reasoning-0-26", "--versions", here, "0.99.0", "--no-save",
                        "--timeout", "300"]) == 1
    out = capsys.readouterr().out
    want = "reproduces" if any(d.id == "stop-token-streamed-into-reasoning-0-26"
                               for d in deviations.load(vllm_version=here).applying("cpu")) else "does not reproduce"
    assert f"vLLM {here}: {want} (exit" in out
    assert "vLLM 0.99.0: not run: environment missing, build it with `LFMC_VLLM=0.99.0 scripts/bootstrap.sh`" in out
    assert "not judged (not run or not exercised): 0.99.0" in out


def test_bisect_record_keeps_earlier_releases_of_the_same_script(tmp_path):
    ran = {"exit": 1, "status": "reproduces", "seconds": 1.0}
    bisect.save("x", "parser", "d1", {"0.26.0": ran}, folder=tmp_path)
    record = bisect.save("x", "parser", "d1", {"0.32.0": {**ran, "exit": 0, "status": "does not reproduce"}}, folder=tmp_path)
    assert list(record["versions"]) == ["0.26.0", "0.32.0"] and record["fixed_in"] == "0.32.0"
    other = bisect.save("x", "parser", "d2", {"0.32.0": ran}, folder=tmp_path)  # another script: earlier runs dropped
    assert list(other["versions"]) == ["0.32.0"]
    assert json.loads((tmp_path / "x.json").read_text())["repro_sha256"] == "d2"
