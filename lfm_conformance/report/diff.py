"""Release diff: what changed between a baseline run and a candidate run (e.g. two vLLM versions),
per model x GPU/target x check, and whether the candidate is safe to upgrade to.

    python -m lfm_conformance.report.diff BASELINE.json CANDIDATE.json --out DIR

Writes DIR/diff.md, DIR/diff.html (self-contained) and DIR/diff.json. Exit status: 0 SAFE TO UPGRADE,
1 REGRESSIONS or INCONCLUSIVE, 2 bad input (one line on stderr naming the file and field, nothing written).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lfm_conformance.report import document, grid, merge, pages
from lfm_conformance.report.pages import Code, Status

BLOCKING = document.BLOCKING  # fail, error, unexpected-pass
UNFINISHED = ("not-run", "pending")  # legacy "skipped" is read as not-run
RAN = ("pass", "fail", "unexpected-pass", "known-deviation", "measured")  # a verdict on vLLM
FIXED = {"fail": "fixed failure", "error": "fixed error", "known-deviation": "fixed deviation",
         "unexpected-pass": "unexpected pass resolved"}
NEW = {"fail": "new failure", "error": "new error (the suite's own)", "unexpected-pass": "new unexpected pass"}
PERF_METRICS = ("output_throughput", "total_token_throughput", "request_throughput", "mean_ttft_ms",
                "mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms")
Z = 2.0  # an accuracy difference beyond Z combined standard errors is significant
CATEGORIES = ("new", "fixed", "disappeared", "changed_deviations", "accuracy", "perf", "environment", "not_compared")


# -- comparing ----------------------------------------------------------------------------------------
def _status(rec: dict | None) -> str | None:
    return None if rec is None else ("not-run" if rec["status"] == "skipped" else rec["status"])


def _dev(rec: dict | None) -> str | None:
    return ((rec or {}).get("deviation") or {}).get("id")


def _entry(what: str, base: dict | None, cand: dict | None, detail: str = "") -> dict:
    rec = cand or base
    return {"model": rec["model"], "where": rec["where"], "suite": rec["suite"], "check": rec["check"],
            "case": rec["case"], "baseline": _status(base), "candidate": _status(cand), "what": what, "detail": detail}


def compare_check(base: dict, cand: dict, out: dict[str, list]) -> None:
    """One check present in both runs: its status change, sorted into the categories."""
    b, c = _status(base), _status(cand)
    if c in BLOCKING and c != b and (b, c) != ("known-deviation", "unexpected-pass"):  # a gone deviation is a fix
        out["new"].append(_entry(NEW[c], base, cand, cand["reason"]))
    elif c in UNFINISHED and b not in UNFINISHED:
        out["new"].append(_entry(f"newly {grid.SYMBOL[c]}", base, cand, cand["reason"]))
    elif c == "known-deviation" and b != c:
        what = "passed before, known deviation now" if b == "pass" else "new known deviation"
        out["new"].append(_entry(what, base, cand, f"deviation {_dev(cand)} appeared"))
    elif c == b == "known-deviation" and _dev(base) != _dev(cand):
        out["changed_deviations"].append(_entry("deviation id changed", base, cand, f"{_dev(base)} -> {_dev(cand)}"))
    elif c == "not-applicable" and b in RAN:
        out["disappeared"].append(_entry("coverage lost: verdict -> n/a", base, cand, cand["reason"]))
    if c in ("pass", "measured", "unexpected-pass") and b in FIXED and b != c:
        gone = f"deviation {_dev(base)} no longer happens" if b == "known-deviation" else ""
        out["fixed"].append(_entry(FIXED[b], base, cand, gone))
    for fb in base["figures"]:
        fc = next((f for f in cand["figures"] if _figure_id(f) == _figure_id(fb)), None)
        if fc is not None and fb.get("kind") == "accuracy" and _number(fb.get("measured")):
            out["accuracy"].append(accuracy_delta(cand, fb, fc))
        elif fc is not None and fb.get("kind") == "perf":
            out["perf"] += perf_deltas(cand, fb, fc)


def _figure_id(fig: dict) -> tuple:
    return tuple(fig.get(k) for k in ("kind", "task", "metric", "test", "setting", "knob"))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def accuracy_delta(rec: dict, fb: dict, fc: dict) -> dict:
    """Delta of a proportion with the binomial standard error of each side from its sample count."""
    pb, pc, nb, nc = fb.get("measured"), fc.get("measured"), fb.get("samples"), fc.get("samples")
    row = {**_entry("accuracy", None, rec), "task": fb.get("task"), "metric": fb.get("metric"), "baseline": pb,
           "candidate": pc, "samples": [nb, nc], "delta": None, "se": None}
    if not _number(pc):
        return {**row, "outcome": "not decidable", "detail": "no measurement in the candidate"}
    delta = pc - pb
    row["delta"] = delta
    if delta == 0:
        return {**row, "outcome": "unchanged", "detail": ""}
    if not (nb and nc and 0 <= pb <= 1 and 0 <= pc <= 1):
        return {**row, "outcome": "not decidable" if delta < 0 else "gain",
                "detail": "no uncertainty: sample counts unknown or not a proportion"}
    se = math.sqrt(pb * (1 - pb) / nb + pc * (1 - pc) / nc)
    row["se"] = se
    if abs(delta) > Z * se:
        outcome = "significant drop" if delta < 0 else "significant gain"
    else:
        outcome = "not decidable" if delta < 0 else "gain within noise"
    return {**row, "outcome": outcome,
            "detail": f"delta {delta:+.4f} vs {Z:g} x combined SE {Z * se:.4f} (n = {nb} / {nc})"}


def perf_deltas(rec: dict, fb: dict, fc: dict) -> list[dict]:
    """Relative deltas of the benchmark's headline figures: one run per side, so no uncertainty."""
    return [{**_entry("perf", None, rec), "test": fb.get("test"), "metric": m, "baseline": fb[m],
             "candidate": fc[m], "rel_delta": fc[m] / fb[m] - 1,
             "detail": "no uncertainty available (one run per side)"}
            for m in PERF_METRICS if _number(fb.get(m)) and _number(fc.get(m)) and fb[m]]


def environment(base_doc: dict, cand_doc: dict) -> list[dict]:
    """What differs between the runs on each GPU/target: vLLM, packages, suite, matrix, deviations, servers."""
    out = []
    bruns, cruns = ({r["where"]: r for r in d["runs"]} for d in (base_doc, cand_doc))
    for where in dict.fromkeys([*bruns, *cruns]):
        b, c = bruns.get(where), cruns.get(where)
        if b is None or c is None:  # a GPU/target only one side ran on
            out.append({"where": where, "what": "run", "baseline": b and "present", "candidate": c and "present"})
            continue
        fields = [("vLLM", b["environment"]["vllm"], c["environment"]["vllm"]),
                  ("hardware", b["environment"]["hardware"]["name"], c["environment"]["hardware"]["name"]),
                  ("suite commit", b["suite_commit"], c["suite_commit"]),
                  ("matrix sha256", b["matrix_sha256"], c["matrix_sha256"]),
                  ("deviations file", b["deviations_file"], c["deviations_file"])]
        bp, cp = b["environment"]["packages"], c["environment"]["packages"]
        fields += [(f"package {p}", bp.get(p), cp.get(p)) for p in dict.fromkeys([*bp, *cp])]
        bs, cs = ({s["config"]: s["command"] for s in r["servers"]} for r in (b, c))
        fields += [(f"server {k}", bs.get(k), cs.get(k)) for k in dict.fromkeys([*bs, *cs])]
        out += [{"where": where, "what": what, "baseline": bv, "candidate": cv} for what, bv, cv in fields if bv != cv]
    return out


def diff(base_doc: dict, cand_doc: dict) -> dict:
    out: dict[str, list] = {c: [] for c in CATEGORIES}
    base = {document.record_key(r): r for r in base_doc["records"]}
    cand = {document.record_key(r): r for r in cand_doc["records"]}
    commits = [sorted({str(r["suite_commit"])[:12] for r in d["runs"]}) for d in (base_doc, cand_doc)]
    same_suite = commits[0] == commits[1]
    cand_checks = {(r["suite"], r["check"]) for r in cand.values()}
    for key, rec in base.items():
        if key in cand:
            compare_check(rec, cand[key], out)
        elif not same_suite and (rec["suite"], rec["check"]) not in cand_checks:
            out["not_compared"].append(_entry("only in the baseline's suite", rec, None))
        elif _status(rec) in RAN:  # it ran before and has no record now
            out["disappeared"].append(_entry("coverage lost: no record", rec, None))
        else:
            out["not_compared"].append(_entry("no record now (had not run)", rec, None))
    out["not_compared"] += [_entry("only in the candidate", None, r) for k, r in cand.items() if k not in base]
    out["environment"] = environment(base_doc, cand_doc)
    shared = len(base.keys() & cand.keys())
    scope = f"compared on {shared} shared checks; " + (
        f"suite commits differ: {', '.join(commits[0])} vs {', '.join(commits[1])}" if not same_suite
        else f"same suite commit {', '.join(commits[0])}")
    regressions = _groups([e for e in out["new"] if e["candidate"] in BLOCKING or _broke_a_pass(e)] + out["disappeared"]
                          + [a for a in out["accuracy"] if a["outcome"] == "significant drop"])
    inconclusive = _groups([e for e in out["new"] if e["candidate"] in UNFINISHED]
                           + [a for a in out["accuracy"] if a["outcome"] == "not decidable"])
    verdict = "REGRESSIONS" if regressions else "INCONCLUSIVE" if inconclusive else "SAFE TO UPGRADE"
    versions = [", ".join(sorted({str(r["environment"]["vllm"]) for r in d["runs"]})) for d in (base_doc, cand_doc)]
    return {"verdict": verdict, "scope": scope, "baseline_vllm": versions[0], "candidate_vllm": versions[1],
            "regressions": regressions, "inconclusive": inconclusive, **out}


def _broke_a_pass(entry: dict) -> bool:
    """A check that passed in the baseline and deviates now: known or not, the upgrade breaks a promise
    that held (a known deviation never hides a regression)."""
    return entry["baseline"] == "pass" and entry["candidate"] == "known-deviation"


def _case(e: dict) -> str:
    return f"[{e['case']}]" if e["case"] else ""


def _groups(entries: list[dict]) -> list[str]:
    """One line per identical change (what, check, statuses, detail) with its cells, as the sign-off groups."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        if e["what"] == "accuracy":
            change = f"{e['task']} {e['metric']} {e['baseline']} -> {e['candidate']}, {e['outcome']}"
        else:
            change = " -> ".join(grid.SYMBOL[s] if s else "no record" for s in (e["baseline"], e["candidate"]))
        groups.setdefault((e["what"], e["suite"], e["check"], change, e["detail"]), []).append(e)
    lines = []
    for (what, suite, check, change, detail), es in groups.items():
        cells = [f"{e['model']} / {e['where']}{_case(e)}" for e in es]
        more = f", +{len(cells) - document.GROUP_LISTED} more" if len(cells) > document.GROUP_LISTED else ""
        lines.append(f"{what}: {suite} / {check} ({change}){f': {detail}' if detail else ''} "
                     f"[{len(es)} case{'s' * (len(es) != 1)}: {', '.join(cells[:document.GROUP_LISTED])}{more}]")
    return lines


# -- rendering ------------------------------------------------------------------------------------------
def sections(d: dict) -> list[tuple[str, str, list[str], list[list]]]:
    """(title, note, header, rows) per category: what both renderers show."""
    fmt = pages.fmt
    checks = ["model", "GPU/target", "behaviour", "check", "baseline", "candidate", "what", "detail"]

    def rows(category: str) -> list[list]:
        return [[e["model"], e["where"], e["suite"], e["check"] + _case(e),
                 *[Status(s) if s else "no record" for s in (e["baseline"], e["candidate"])], e["what"], e["detail"]]
                for e in d[category]]
    return [
        ("New", "failures, errors, unexpected passes, new deviations, checks newly NOT RUN / PENDING",
         checks, rows("new")),
        ("Fixed", "deviations and failures now passing", checks, rows("fixed")),
        ("Disappeared (coverage lost)", "ran in the baseline; no record or n/a in the candidate",
         checks, rows("disappeared")),
        ("Changed deviations", "same check, different deviation id", checks, rows("changed_deviations")),
        ("Accuracy", f"binomial standard error from the sample counts; significant beyond {Z:g} combined SE",
         ["model", "GPU/target", "check", "task", "metric", "baseline", "candidate", "delta", "samples", "outcome",
          "detail"],
         [[a["model"], a["where"], a["check"] + _case(a), a["task"], a["metric"], fmt(a["baseline"]),
           fmt(a["candidate"]), fmt(a["delta"]), " / ".join(map(str, a["samples"])), a["outcome"], a["detail"]]
          for a in d["accuracy"]]),
        ("Perf", "relative deltas; no uncertainty available (one benchmark run per side): read as indications",
         ["model", "GPU/target", "check", "test", "metric", "baseline", "candidate", "rel. delta"],
         [[p["model"], p["where"], p["check"] + _case(p), p["test"], p["metric"], fmt(p["baseline"]),
           fmt(p["candidate"]), pages.pct(p["rel_delta"])] for p in d["perf"]]),
        ("Environment changes", "per GPU/target: vLLM, packages, suite commit, matrix, deviations file, servers",
         ["GPU/target", "what", "baseline", "candidate"],
         [[e["where"], e["what"], Code(e["baseline"] or "-"), Code(e["candidate"] or "-")] for e in d["environment"]]),
        ("Not compared", "checks in one run only (not a regression by themselves)", checks, rows("not_compared")),
    ]


def title(d: dict) -> str:
    return f"Release diff: vLLM {d['baseline_vllm']} (baseline) -> vLLM {d['candidate_vllm']} (candidate)"


def render_markdown(d: dict) -> str:
    out = [f"# {title(d)}", "", f"**{d['verdict']}**", "", d["scope"], ""]
    for name, lines in (("Regressions", d["regressions"]), ("Inconclusive", d["inconclusive"])):
        out += [f"## {name}", "", *[f"- {pages.md_text(x)}" for x in lines], ""] if lines else []
    for name, note, header, rows in sections(d):
        out += [f"## {name}", "", f"_{note}_", ""] + (pages.md_table(header, rows) if rows else ["None.", ""])
    return "\n".join(out)


def render_html(d: dict) -> str:
    kind = {"SAFE TO UPGRADE": "ok", "INCONCLUSIVE": "incomplete"}.get(d["verdict"], "blocked")
    e = pages.escape
    parts = [f"<h1>{e(title(d))}</h1>", f'<div class="verdict {kind}">{e(d["verdict"])}</div>',
             f'<div class="counts">{e(d["scope"])}</div>']
    for name, lines in (("Regressions", d["regressions"]), ("Inconclusive", d["inconclusive"])):
        parts += [f"<h2>{name}</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"] if lines else []
    for name, note, header, rows in sections(d):
        parts += [f"<h2>{e(name)}</h2>", f'<p class="note">{e(note)}</p>',
                  pages.html_table(header, rows) if rows else "<p>None.</p>"]
    return pages.html_page(title(d), parts)


def write(d: dict, out_dir: Path) -> list[Path]:
    return pages.write_texts(out_dir, {"diff.md": render_markdown(d), "diff.html": render_html(d),
                                         "diff.json": json.dumps(d, indent=1, ensure_ascii=False)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path, help="results.json of the baseline run (e.g. the current vLLM)")
    parser.add_argument("candidate", type=Path, help="results.json of the candidate run (e.g. the new vLLM)")
    parser.add_argument("--out", required=True, type=Path, help="directory for diff.md, diff.html, diff.json")
    args = parser.parse_args(argv)
    try:
        d = {"files": [str(args.baseline), str(args.candidate)],
             **diff(merge.load(args.baseline), merge.load(args.candidate))}
    except merge.MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    written = write(d, args.out)
    print(f"{d['verdict']}: {d['scope']}; {len(d['regressions'])} regressions, {len(d['inconclusive'])} inconclusive; "
          f"wrote {', '.join(str(p) for p in written)}")
    return 0 if d["verdict"] == "SAFE TO UPGRADE" else 1


if __name__ == "__main__":
    sys.exit(main())
