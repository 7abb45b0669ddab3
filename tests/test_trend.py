"""The history folder and the trend page: runs stored by time, checks and claims followed across runs."""
import json

import pytest

from lfm_conformance.report import history, trend
from tests import results_factory as rf

DAY = "2026-11-{:02d}T05:00:00+00:00"
LOADING = "LFM2.5-230M / cpu / loading::test_first_request_returns_text"
REASONING = "LFM2.5-1.2B-Thinking / cpu / reasoning::test_reasoning_in_documented_field"


def _loading(status="pass", **kw) -> dict:
    return rf.record(status=status, **kw)


def _thinking(status="pass") -> dict:
    dev = rf.DEVIATION if status == "known-deviation" else None
    return rf.record(model="LFM2.5-1.2B-Thinking", suite="reasoning", check="test_reasoning_in_documented_field",
                     status=status, deviation=dev)


def _doc(day: int, records: list[dict], where="cpu", **run_fields) -> dict:
    doc = rf.doc(where=where, records=records, **run_fields)
    doc["runs"][0]["started"] = DAY.format(day)
    return doc


def _files(tmp_path, docs) -> list:
    paths = []
    for i, doc in enumerate(docs):
        paths.append(tmp_path / f"run{i}.json")
        paths[-1].write_text(json.dumps(doc))
    return paths


def _trend(tmp_path, docs, reverse=False):
    """trend.main over the documents (given newest first when reverse): (exit status, trend.json, md, html)."""
    paths = _files(tmp_path, docs)
    out = tmp_path / "trend"
    rc = trend.main([*map(str, reversed(paths) if reverse else paths), "--out", str(out)])
    return (rc, json.loads((out / "trend.json").read_text()), (out / "trend.md").read_text(),
            (out / "trend.html").read_text())


def _row(t: dict, label: str) -> dict:
    return next(r for r in t["rows"] if r["label"] == label)


def _html_row(page: str, label: str) -> str:
    start = page.index(f'<td class="row">{label}</td>')
    return page[start:page.index("</tr>", start)]


# -- the trend page ----------------------------------------------------------------------------------------
def test_runs_are_columns_ordered_by_start_time_whatever_the_argument_order(tmp_path):
    docs = [_doc(day, [_loading(), _thinking()]) for day in (27, 28, 29)]
    rc, t, md, page = _trend(tmp_path, docs, reverse=True)
    assert rc == 0
    assert [r["started"][:10] for r in t["runs"]] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert t["runs"][0]["label"] == f"vLLM 0.32.0 · 2026-11-27 · {rf.COMMIT[:7]}"
    assert "<script" not in page and "<style>" in page  # self-contained


def test_deviation_appearing_in_run_2_and_gone_in_run_3_names_those_runs(tmp_path):
    docs = [_doc(27, [_loading(), _thinking("pass")]), _doc(28, [_loading(), _thinking("known-deviation")]),
            _doc(29, [_loading(), _thinking("pass")])]
    rc, t, md, _ = _trend(tmp_path, docs)
    row = _row(t, REASONING)
    assert row["cells"] == ["pass", "known-deviation", "pass"] and row["changed"]
    assert row["events"] == [{"kind": "deviation", "what": "reasoning-field-renamed", "first": 2, "last": 2, "gone": 3,
                              "in_latest": False}]
    assert (f"- {REASONING}: deviation reasoning-field-renamed: appeared in run 2 (vLLM 0.32.0 · 2026-11-28 · "
            f"{rf.COMMIT[:7]}), last seen in run 2, gone in run 3 (vLLM 0.32.0 · 2026-11-29 · {rf.COMMIT[:7]})") in md


def test_failure_that_appears_is_reported_from_its_first_run_and_not_gone(tmp_path):
    docs = [_doc(27, [_loading("pass")]), _doc(28, [_loading("fail", reason="no text")]),
            _doc(29, [_loading("fail", reason="no text")])]
    _, t, md, _ = _trend(tmp_path, docs)
    assert _row(t, LOADING)["events"] == [{"kind": "failure", "what": "FAIL", "first": 2, "last": 3, "gone": None,
                                          "in_latest": True}]
    assert (f"- {LOADING}: FAIL: appeared in run 2 (vLLM 0.32.0 · 2026-11-28 · {rf.COMMIT[:7]}), last seen in "
            "run 3, still there in the latest run") in md


def test_check_absent_from_a_run_shows_absent_never_pass(tmp_path):
    docs = [_doc(27, [_loading(), _thinking()]), _doc(28, [_thinking()]), _doc(29, [_loading(), _thinking()])]
    _, t, _, page = _trend(tmp_path, docs)
    row = _row(t, LOADING)
    assert row["cells"] == ["pass", "absent", "pass"] and row["absent_in"] == [2]
    assert row["events"] == [] and not row["changed"]
    cells = _html_row(page, LOADING)
    assert cells.count(">PASS<") == 2 and cells.count(">absent<") == 1


def test_run_on_another_gpu_leaves_the_cell_blank_not_absent(tmp_path):
    docs = [_doc(27, [_loading()]), _doc(28, [_loading(where="H100")], where="H100")]
    _, t, _, _ = _trend(tmp_path, docs)
    assert _row(t, LOADING)["cells"] == ["pass", None]
    assert _row(t, "LFM2.5-230M / H100 / loading::test_first_request_returns_text")["cells"] == [None, "pass"]


def test_runs_of_different_suite_commits_are_side_by_side(tmp_path):
    newer = "f999bc3" + "0" * 33
    docs = [_doc(27, [_loading()]), _doc(28, [_loading(), _thinking()], commit=newer)]
    rc, t, md, _ = _trend(tmp_path, docs)
    assert rc == 0 and t["suite_commits"] == [rf.COMMIT[:7], "f999bc3"]
    assert _row(t, REASONING)["cells"] == ["absent", "pass"]
    assert "Suite commits differ (0123456, f999bc3)" in md


def test_changed_rows_come_first(tmp_path):
    docs = [_doc(27, [_loading(), _thinking("pass")]), _doc(28, [_loading(), _thinking("fail")])]
    _, t, _, _ = _trend(tmp_path, docs)
    assert t["rows"][0]["label"] == REASONING and t["counts"]["changed"] == sum(r["changed"] for r in t["rows"])
    assert [r["changed"] for r in t["rows"]] == sorted((r["changed"] for r in t["rows"]), reverse=True)


def test_guide_claims_are_rows_when_the_results_carry_coverage(tmp_path):
    docs = [_doc(27, [_loading(), _thinking("pass")]), _doc(28, [_loading(), _thinking("known-deviation")])]
    _, t, _, _ = _trend(tmp_path, docs)
    claims = [r for r in t["rows"] if r["kind"] == "claim" and r["changed"]]
    assert claims and all(r["cells"] == ["verified", "deviation"] for r in claims)


# -- the history folder ------------------------------------------------------------------------------------
def test_history_add_names_the_file_by_utc_start_vllm_target_and_commit(tmp_path):
    doc = _doc(1, [_loading()], commit="f999bc3" + "0" * 33)
    doc["runs"][0]["started"] = "2026-12-01T00:05:00+03:00"
    stored, new = history.add(_files(tmp_path, [doc])[0], tmp_path / "h")
    assert new and stored.name == "20261130T210500Z-vllm0.32.0-cpu-f999bc3.json"


def test_history_name_falls_back_when_vllm_and_commit_are_unknown(tmp_path):
    doc = _doc(27, [_loading()], commit=None)
    doc["runs"][0]["environment"]["vllm"] = None
    assert history.stored_name(doc) == "20261127T050000Z-vllmunknown-cpu-nocommit.json"


def test_history_add_twice_stores_once(tmp_path, capsys):
    path = _files(tmp_path, [_doc(27, [_loading()])])[0]
    assert history.main(["add", str(path), "--history", str(tmp_path / "h")]) == 0
    assert history.main(["add", str(path), "--history", str(tmp_path / "h")]) == 0
    assert len(list((tmp_path / "h").iterdir())) == 1
    assert capsys.readouterr().out.splitlines()[1].startswith("already stored: ")


def test_history_keeps_two_different_runs_started_the_same_second(tmp_path):
    paths = _files(tmp_path, [_doc(27, [_loading("pass")]), _doc(27, [_loading("fail")])])
    names = [history.add(p, tmp_path / "h")[0].name for p in paths]
    assert names[0] != names[1] and names[1].startswith(names[0].removesuffix(".json") + "-")


def test_history_defaults_to_lfmc_home_and_feeds_the_trend(tmp_path, monkeypatch):
    monkeypatch.setenv("LFMC_HOME", str(tmp_path / "home"))
    for path in _files(tmp_path, [_doc(28, [_loading()]), _doc(27, [_loading()])]):
        assert history.main(["add", str(path)]) == 0
    assert trend.main(["--out", str(tmp_path / "out")]) == 0
    t = json.loads((tmp_path / "out" / "trend.json").read_text())
    assert [r["file"].rsplit("/", 1)[1][:8] for r in t["runs"]] == ["20261127", "20261128"]


# -- bad input -------------------------------------------------------------------------------------------
BAD_FILES = {"missing": None, "not-json": "{not json", "not-results": json.dumps({"hello": 1})}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_results_file_is_one_error_line_and_nothing_written(tmp_path, capsys, kind):
    bad = tmp_path / "bad.json"
    if BAD_FILES[kind] is not None:
        bad.write_text(BAD_FILES[kind])
    good = _files(tmp_path, [_doc(27, [_loading()])])[0]
    assert trend.main([str(good), str(bad), "--out", str(tmp_path / "out")]) == 2
    assert history.main(["add", str(bad), "--history", str(tmp_path / "h")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {bad}: ") for line in lines)
    assert not (tmp_path / "out").exists() and not (tmp_path / "h").exists()


def test_unreadable_start_time_names_the_field(tmp_path, capsys):
    doc = _doc(27, [_loading()])
    doc["runs"][0]["started"] = "yesterday"
    path = _files(tmp_path, [doc])[0]
    assert history.main(["add", str(path), "--history", str(tmp_path / "h")]) == 2
    assert capsys.readouterr().err == f"error: {path}: runs[0].started: 'yesterday' is not an ISO date-time\n"


@pytest.mark.parametrize("make", [False, True], ids=["no-folder", "empty-folder"])
def test_empty_history_is_one_error_line_and_nothing_written(tmp_path, capsys, make):
    folder = tmp_path / "h"
    if make:
        folder.mkdir()
    assert trend.main(["--history", str(folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {folder}: ") and "history add" in err
    assert not (tmp_path / "out").exists()
