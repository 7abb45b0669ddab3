"""The upstream reproductions (lfm_conformance/report/upstream.py) stay honest: each parser finding's
generated repro.py, run with this environment's vLLM, exits as the suite's own verdict says (1 where a
known deviation of its replay test `test_parser_finding_<id>` covers the installed version, else 0); on
stand-in parsers it tells a correct parser (0) from a broken one (1); the served scripts judge answers
as the contract says; the bisect summary reads first bad / last good right."""
from __future__ import annotations

import json
import runpy
import sys
from importlib import util

import pytest

from pathlib import Path

from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import deviations
from lfm_conformance.report import bisect, upstream

REPORTS = upstream.build_reports()
PARSER = {r.key: r for r in REPORTS if r.kind == "parser"}  # one per parser finding or replayed deviation
SERVED = [r for r in REPORTS if r.kind == "served"]
JUDGED_BY_TEMPLATE = [r for r in SERVED if any(q.get("judge") == "template" for q in r.served["requests"])]
REFUSALS = [r for r in SERVED if r not in JUDGED_BY_TEMPLATE]
NO_CLAIMS = claims_mod.Claims(Path("none"), (), ())
KERNEL = {r.id: r for r in REPORTS if r.kind == "kernel"}  # in-process kernel calls: run in CI like the parser ones

# What a correct parser returns for each finding's model output (hand-made, not from vLLM).
CORRECT_CALLS = {
    "surrogate_pair_escape": [("a", {"a": "😀"})],
    "content_joined_with_newline": [("a", {})],
    "whitespace_around_block": [("a", {})],
    "trailing_bracket_text_dropped": [("a", {})],
    "float_exponent_streamed": [("a", {"and": {"": {"": 1.0899508454751278e+16}}})],
    "decimal_cut_at_point_streamed": [("a", {"a": {"lat": [{"lat": 0.1}]}})],
    "keyword_argument_name": [("a", {"and": []})],
    "keyword_argument_name_streamed": [("a", {}), ("a", {"and": None})],
    "negative_number_unparsed": [("a", {"a": -1})],
    "negative_number_streamed_cut": [("a", {"b": "s", "a": -1})],
    "raw_line_break_unparsed": [("a", {"a": "x\ny"})],
    "backslash_string_streamed": [("a", {"a": {"\\": None}})],
    "bracket_in_string_streamed": [("a", {"a": {")": None}})],
    "stop_token_streamed_as_text": [],
    # known deviations whose served output is replayed (their `replay` field)
    "direct-answer-lands-in-reasoning": [],
    "unthought-tool-call-unparsed-with-reasoning-parser": [("get_weather", {"location": "Tokyo"})],
    "forced-tool-choice-lands-in-reasoning": [],
    "forced-tool-choice-lands-in-reasoning-both-modes": [],
    "named-tool-choice-lands-in-reasoning": [],
    "named-tool-choice-lands-in-reasoning-both-modes": [],
    "stop-token-streamed-into-reasoning-0-26": [],
    "stop-token-streamed-into-reasoning-history-0-26": [],
}


def _script(tmp_path, report) -> dict:
    path = tmp_path / f"{report.id}.py"
    path.write_text(upstream.render_repro(report), encoding="utf-8")
    return runpy.run_path(str(path), run_name="repro")


class StandInParsers:
    """A parser pair that answers every finding's output correctly (`broken`: as the finding says vLLM
    does, roughly: no call parsed, the whole output as content, a different streamed text)."""

    def __init__(self, finding: dict, broken: bool = False):
        self.finding, self.broken = finding, broken
        self.calls = [{"name": n, "arguments": json.dumps(a, ensure_ascii=False)}
                      for n, a in CORRECT_CALLS[finding["id"]]]

    def describe(self):
        return "stand-in parsers" + (" (broken)" if self.broken else "")

    def _split(self, text):
        if "</think>" in text:
            reasoning, text = text.split("</think>", 1)
            reasoning = reasoning.removeprefix("<think>")
        else:
            reasoning = None
        if "<|tool_call_start|>" in text:
            before, rest = text.split("<|tool_call_start|>", 1)
            text = before + rest.split("<|tool_call_end|>", 1)[1]
        return reasoning, text or None

    def non_streaming(self, pieces):
        text = "".join(pieces)
        if self.broken:  # the block not parsed (its calls missing) or returned as content
            parsed = self.finding["property"] == "test_tool_calls_parsed_equal_generated"
            return {"reasoning": "x", "content": text, "calls": [] if parsed else self.calls}
        reasoning, content = self._split(text)
        return {"reasoning": reasoning, "content": content, "calls": self.calls}

    def streaming(self, pieces):
        text = "".join(pieces)
        if self.broken:
            return {"reasoning": "y", "content": "y", "calls": [], "unsendable": []}
        reasoning, content = self._split(text)
        return {"reasoning": reasoning, "content": content, "unsendable": [],
                "calls": [{"index": i, "ids": [f"call_{i}"], "names": [c["name"]], "arguments": c["arguments"]}
                          for i, c in enumerate(self.calls)]}


def test_every_parser_finding_has_a_correct_answer_here():
    assert set(PARSER) == set(CORRECT_CALLS), "add the new finding's correct calls to CORRECT_CALLS"


@pytest.mark.parametrize("finding_id", sorted(PARSER))
def test_parser_repro_passes_a_correct_parser_and_fails_a_broken_one(tmp_path, finding_id, capsys):
    report = PARSER[finding_id]
    main = _script(tmp_path, report)["main"]
    assert main([], parsers=StandInParsers(report.finding)) == 0, capsys.readouterr().out
    assert "NOT REPRODUCED" in capsys.readouterr().out
    assert main([], parsers=StandInParsers(report.finding, broken=True)) == 1
    assert "REPRODUCED:" in capsys.readouterr().out


def test_repro_imports_nothing_from_the_suite(tmp_path):
    for report in [*PARSER.values(), *SERVED]:
        text = upstream.render_repro(report)
        assert "lfm_conformance" not in text.replace("python -m lfm_conformance.report.upstream", "")
        compile(text, report.id, "exec")


@pytest.mark.parametrize("report", REFUSALS, ids=[r.id for r in REFUSALS])
def test_served_repro_judges_answers_by_the_contract(tmp_path, report, capsys):
    main = _script(tmp_path, report)["main"]
    sent = []

    def refuses(request, body):
        sent.append((request["case"], body))
        return 400, json.dumps({"error": {"message": "bad request", "type": "BadRequestError", "code": 400}})

    assert main([], send_request=refuses) == 0
    assert [case for case, _ in sent] == [r["case"] for r in report.served["requests"]]
    assert main([], send_request=lambda request, body: (200, '{"choices": []}')) == 1
    assert main([], send_request=lambda request, body: (500, '{"error": {"message": "x", "type": "y"}}')) == 1
    assert main([], send_request=lambda request, body: (400, '{"detail": "x"}')) == 1
    capsys.readouterr()


def _tokenizer_rendering_tools(folder) -> str:
    """The fixtures' tokenizer with the LFM2 chat template (fixtures/chat_template.jinja: tools as JSON)."""
    from fixtures import build, tokenizer

    tokenizer.build([], build.SPECIAL_TOKENS, build.THINK_TOKENS, build.TEMPLATE.read_text()).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("report", JUDGED_BY_TEMPLATE, ids=[r.id for r in JUDGED_BY_TEMPLATE])
def test_rendering_repro_compares_the_served_prompt_with_the_template(tmp_path, report, capsys):
    """The /tokenize answer is judged against transformers' rendering of the request as sent: the same
    tokens pass; a tool rendered with a "description": null the client never sent, or a refusal, fail."""
    from transformers import AutoTokenizer

    path = _tokenizer_rendering_tools(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(path)
    main = _script(tmp_path, report)["main"]

    def rendering(request, with_null=False):
        tools = request["json"].get("tools")
        if with_null:
            tools = [{**t, "function": {"name": t["function"]["name"], "description": None,
                                        **{k: v for k, v in t["function"].items() if k != "name"}}} for t in tools]
        ids = tok.apply_chat_template(request["json"]["messages"], tools=tools, add_generation_prompt=True,
                                      tokenize=True, return_dict=False)
        return 200, json.dumps({"tokens": list(ids), "count": len(ids)})

    assert main(["--tokenizer", path], send_request=lambda request, body: rendering(request)) == 0
    assert "NOT REPRODUCED" in capsys.readouterr().out
    assert main(["--tokenizer", path], send_request=lambda request, body: rendering(request, with_null=True)) == 1
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "differs from the chat template's rendering" in out and "null" in out
    assert main(["--tokenizer", path], send_request=lambda request, body: (400, '{"error": {}}')) == 1
    assert "HTTP 400 where the rendered prompt was due" in capsys.readouterr().out


def test_served_repros_run_against_a_served_model(tmp_path):
    pytest.skip("not run: a served reproduction starts `vllm serve` on a model (default "
                f"{upstream.DEFAULT_MODEL}, a hub download) and CI has neither the weights nor the cores; run "
                "scripts/served_repros.py (fixture servers) with each release's environment, or "
                "reports/upstream/<id>/repro.py --model ... by hand")


def _installed_vllm():
    return deviations.installed_vllm_version() if util.find_spec("vllm") else None


def suite_verdict(finding_id: str, version: str) -> int:
    """1 when a known deviation of the finding's replay test covers this vLLM on the cpu target, else 0."""
    known = deviations.load(vllm_version=version)
    check = upstream.REPLAY_PREFIX + finding_id
    return int(any(d.check == check for d in known.applying(upstream.REPRO_TARGET)))


def entry_verdict(deviation_id: str, version: str) -> int:
    """1 when the known deviation covers this vLLM on the cpu target, else 0."""
    return int(any(d.id == deviation_id for d in deviations.load(vllm_version=version).applying(upstream.REPRO_TARGET)))


def test_parser_repros_agree_with_the_suite_on_the_installed_vllm(tmp_path):
    """Every parser finding's and CPU kernel finding's repro.py, run with this environment's Python (one
    process for all of them: one vLLM import), exits as the suite's verdict on the installed vLLM says."""
    version = _installed_vllm()
    if version is None:
        pytest.skip("not run: vLLM is not installed in this environment")
    paths = {}
    assert KERNEL, "no CPU kernel finding has a reproduction"
    for fid, report in {**PARSER, **KERNEL}.items():
        paths[fid] = tmp_path / fid / "repro.py"
        paths[fid].parent.mkdir()
        paths[fid].write_text(upstream.render_repro(report), encoding="utf-8")
    results = bisect.run_repros(sys.executable, list(paths.values()), timeout=300)
    table, wrong = [], []
    for fid, path in sorted(paths.items()):
        replayed = fid in KERNEL or PARSER[fid].finding.get("replayed_entry")
        want = entry_verdict(fid, version) if replayed else suite_verdict(fid, version)
        got = results[str(path)]["exit"]
        table.append(f"{fid}: repro exit {got}, suite {'DEV' if want else 'no deviation'} (want {want})")
        if got != want:
            wrong.append(f"{fid}: exit {got}, want {want}\n{results[str(path)]['output']}")
    assert not wrong, f"vLLM {version}:\n" + "\n".join(table) + "\n\n" + "\n\n".join(wrong)


def test_bisect_summary_reads_first_bad_and_last_good():
    def r(code, status=None):
        return {"exit": code, "status": status or bisect.STATUS.get(code, "not run: x")}

    summary = bisect.summarize({"0.23.0": r(0), "0.26.0": r(0), "0.28.0": r(None), "0.32.0": r(1)})
    assert (summary["first_bad"], summary["last_good"], summary["fixed_in"]) == ("0.32.0", "0.26.0", None)
    summary = bisect.summarize({"0.23.0": r(1), "0.26.0": r(1), "0.32.0": r(0)})
    assert (summary["first_bad"], summary["last_good"], summary["fixed_in"]) == ("0.23.0", None, "0.32.0")
    summary = bisect.summarize({"0.23.0": r(0, "not exercised: x"), "0.26.0": r(0), "0.32.0": r(1)})
    assert summary["last_good"] == "0.26.0"
    summary = bisect.summarize({"0.26.0": r(0, "not exercised: x"), "0.32.0": r(1)})
    assert summary["last_good"] is None


def test_bisect_reports_a_missing_environment_without_building(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LFMC_HOME", str(tmp_path))
    report = PARSER["float_exponent_streamed"]
    results = bisect.bisect(report, ["0.28.0"], build=False, timeout=5, log=print)
    assert results["0.28.0"]["status"] == ("not run: environment missing, build it with "
                                           "`LFMC_VLLM=0.28.0 scripts/bootstrap.sh` (or pass --build)")


def test_issue_draft_uses_the_bisect_record(tmp_path):
    report = PARSER["float_exponent_streamed"]
    (tmp_path / "float_exponent_streamed.json").write_text(json.dumps(
        {"versions": {"0.26.0": {"status": "does not reproduce"}, "0.32.0": {"status": "reproduces"}},
         "first_bad": "0.32.0", "last_good": "0.26.0", "date": "2026-12-06"}))
    text = upstream.render_issue(report, claims=NO_CLAIMS, bisect_dir=tmp_path)
    assert "- first bad: 0.32.0" in text and "- last good: 0.26.0" in text
    text = upstream.render_issue(report, claims=NO_CLAIMS, bisect_dir=tmp_path / "none")
    assert "Not bisected" in text and ">=0.32" in text
    for heading in ("## Environment", "## Steps", "## Expected", "## Observed", "## The guide sentence it breaks"):
        assert heading in text
