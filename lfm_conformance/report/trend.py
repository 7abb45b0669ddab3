"""The trend page: how each check and each guide claim moved across runs (vLLM versions, suite commits).

    python -m lfm_conformance.report.trend [RUN.json ... | --history DIR] --out DIR

One row per check (model x GPU/target x suite::check[case]) and per guide claim x GPU/target (from the
results' `coverage`), one column per run, oldest first; rows whose status changed come first. Each row
says in which run a known deviation or a failure first and last showed, and the run it was gone in.
A run that covered a row's GPU/target but holds no record of it shows `absent` (never a pass); a run on
other GPUs/targets leaves the cell blank. Writes DIR/trend.html (self-contained), DIR/trend.md and
DIR/trend.json. Exit status: 0 written, 2 bad input (one line on stderr naming the file, nothing written).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lfm_conformance.report import coverage, diff, document, grid, history, pages

ABSENT = "absent"
CLAIM_VERDICTS = ("failed", "deviation", "measured", "verified")  # a claim status that settles it on a run
MD_ROWS = 40  # rows listed per Markdown section; the rest are in trend.html


# -- the runs and rows -------------------------------------------------------------------------------------
def load_runs(paths: list[Path]) -> list[tuple[Path, dict]]:
    """Every file read and checked (HistoryError on the first bad one), the same run once, oldest first."""
    loaded = {}
    for path in paths:
        doc = history.load(path)
        loaded.setdefault(history.digest(doc), (path, doc))
    return sorted(loaded.values(), key=lambda pd: (history.started(pd[1]), str(pd[0])))


def run_info(number: int, path: Path, doc: dict) -> dict:
    when = history.started(doc)
    vllm, commit = history.vllm_versions(doc), history.commit(doc)
    return {"run": number, "file": str(path), "label": f"vLLM {vllm} · {when:%Y-%m-%d} · {commit}",
            "started": when.isoformat(), "vllm": vllm, "commit": commit, "wheres": history.wheres(doc),
            "verdict": doc["summary"]["verdict"]}


def _claims(doc: dict) -> dict | None:
    cov = doc.get("coverage")
    return None if cov is None or "error" in cov else cov


def collect_rows(docs: list[dict]) -> list[dict]:
    """Rows keyed by check or claim: per run its status, ABSENT, or None (the run was not on that GPU/target)."""
    rows: dict[tuple, dict] = {}
    n = len(docs)
    for i, doc in enumerate(docs):
        for rec in doc["records"]:
            row = rows.setdefault(("check", *document.record_key(rec)), {
                "kind": "check", "model": rec["model"], "where": rec["where"], "suite": rec["suite"],
                "check": rec["check"], "case": rec["case"], "cells": [None] * n, "deviations": [None] * n})
            row["cells"][i] = diff._status(rec)  # legacy "skipped" reads as not-run
            if row["cells"][i] == "known-deviation":
                row["deviations"][i] = diff._dev(rec) or "(no id)"
        for claim in (_claims(doc) or {"claims": ()})["claims"]:
            for where, status in claim["status"].items():
                row = rows.setdefault(("claim", claim["id"], where), {
                    "kind": "claim", "claim": claim["id"], "section": claim["section"], "where": where,
                    "cells": [None] * n})
                row["cells"][i] = status
    covered = {"check": [set(history.wheres(d)) for d in docs],
               "claim": [set((_claims(d) or {"wheres": ()})["wheres"]) for d in docs]}
    for row in rows.values():
        for i in range(n):
            if row["cells"][i] is None and row["where"] in covered[row["kind"]][i]:
                row["cells"][i] = ABSENT
        present = {c for c in row["cells"] if c not in (None, ABSENT)}
        row["changed"] = len(present) > 1
        row["absent_in"] = [i + 1 for i, c in enumerate(row["cells"]) if c == ABSENT]
        row["events"] = events(row)
        row["label"] = label(row)
    order = {m: k for k, m in enumerate(dict.fromkeys(r["model"] for d in docs for r in d["records"]))}
    return sorted(rows.values(), key=lambda r: (not r["changed"], not r["absent_in"], r["kind"] == "claim",
                                                order.get(r.get("model"), 0), r["label"]))


def label(row: dict) -> str:
    if row["kind"] == "claim":
        return f"claim {row['claim']} / {row['where']}"
    case = f"[{row['case']}]" if row["case"] else ""
    return f"{row['model']} / {row['where']} / {row['suite']}::{row['check']}{case}"


def events(row: dict) -> list[dict]:
    """Per deviation id and per failure status: the first and last run showing it, and the first later run
    that gave a verdict without it (gone), or None while no later run settled the row."""
    if row["kind"] == "check":
        marks = [("deviation", d) if d else ("failure", grid.SYMBOL[c]) if c in ("fail", "error") else None
                 for c, d in zip(row["cells"], row["deviations"])]
        settled = [c in diff.RAN for c in row["cells"]]
    else:
        marks = [("deviation", "deviation") if c == "deviation" else ("failure", "failed") if c == "failed" else None
                 for c in row["cells"]]
        settled = [c in CLAIM_VERDICTS for c in row["cells"]]
    found: dict[tuple, dict] = {}
    for i, mark in enumerate(marks):
        if mark:
            found.setdefault(mark, {"kind": mark[0], "what": mark[1], "first": i + 1})["last"] = i + 1
    for event in found.values():
        event["gone"] = next((j + 1 for j in range(event["last"], len(marks)) if settled[j]), None)
        event["in_latest"] = all(c in (None, ABSENT) for c in row["cells"][event["last"]:])  # latest run with a record
    return list(found.values())


def trend(paths: list[Path]) -> dict:
    loaded = load_runs(paths)
    runs = [run_info(k + 1, path, doc) for k, (path, doc) in enumerate(loaded)]
    rows = collect_rows([doc for _, doc in loaded])
    commits = list(dict.fromkeys(r["commit"] for r in runs))
    return {"runs": runs, "suite_commits": commits, "rows": rows,
            "counts": {"rows": len(rows), "changed": sum(r["changed"] for r in rows),
                       "absent_somewhere": sum(bool(r["absent_in"]) for r in rows)}}


# -- rendering ---------------------------------------------------------------------------------------------
def _run_ref(t: dict, number: int) -> str:
    return f"run {number} ({t['runs'][number - 1]['label']})"


def event_text(t: dict, event: dict) -> str:
    named = event["kind"] == "deviation" and event["what"] != "deviation"  # a check's deviation has an id
    what = f"deviation {event['what']}" if named else event["what"]
    gone = (f", gone in {_run_ref(t, event['gone'])}" if event["gone"] else ", still there in the latest run"
            if event["in_latest"] else ", no later run settled it")
    return f"{what}: appeared in {_run_ref(t, event['first'])}, last seen in run {event['last']}{gone}"


def _symbol(row: dict, cell: str | None) -> str:
    if cell is None:
        return ""
    if cell == ABSENT:
        return ABSENT
    return coverage.LABEL[cell] if row["kind"] == "claim" else grid.SYMBOL[cell]


def title(t: dict) -> str:
    runs = t["runs"]
    return (f"LFM2.5 conformance trend: {len(runs)} run{'s' * (len(runs) != 1)}, "
            f"{runs[0]['label']} to {runs[-1]['label']}")


def intro(t: dict) -> str:
    c = t["counts"]
    text = (f"{c['rows']} rows (checks, and guide claims per GPU/target where the results carry coverage); "
            f"{c['changed']} changed status; {c['absent_somewhere']} absent from some run that covered their "
            f"GPU/target (absent: no record, never a pass; blank: the run was not on that GPU/target).")
    if len(t["suite_commits"]) > 1:
        text += (f" Suite commits differ ({', '.join(t['suite_commits'])}): shown side by side; a check one "
                 f"commit's suite lacks shows absent in its runs.")
    return text


def render_markdown(t: dict) -> str:
    md = pages.md_text
    out = [f"# {md(title(t))}", "", md(intro(t)), "", "## Runs", ""]
    out += pages.md_table(["run", "vLLM · date · commit", "GPU/target", "verdict", "file"], [
        [r["run"], r["label"], ", ".join(r["wheres"]), r["verdict"], pages.Code(r["file"])] for r in t["runs"]])
    changed = [r for r in t["rows"] if r["changed"]]
    out += [f"## Changed ({len(changed)})", ""]
    out += pages.md_table(["row", *(f"run {r['run']}" for r in t["runs"])],
                             [[r["label"], *(_symbol(r, c) for c in r["cells"])] for r in changed[:MD_ROWS]]
                             ) if changed else ["None.", ""]
    out += [f"+{len(changed) - MD_ROWS} more in trend.html", ""] if len(changed) > MD_ROWS else []
    for kind, name in (("deviation", "Deviations"), ("failure", "Failures")):
        lines = [f"- {md(r['label'])}: {md(event_text(t, e))}" for r in t["rows"] for e in r["events"]
                 if e["kind"] == kind]
        out += [f"## {name} ({len(lines)})", "", *(lines[:MD_ROWS] or ["None."])]
        out += [f"- +{len(lines) - MD_ROWS} more in trend.html"] if len(lines) > MD_ROWS else []
        out += [""]
    return "\n".join(out)


CSS = pages.CSS + """
.cell.absent {background: #fff; border: 1px dashed #78909c; color: #455a64}
td.row {white-space: nowrap; font-size: 12.5px}
td.events {font-size: 12px; color: #333}
"""


def _cell_html(row: dict, cell: str | None, deviation: str | None) -> str:
    e = pages.escape
    if cell is None:
        return ""
    if cell == ABSENT:
        return '<span class="cell absent" title="the run holds no record of this">absent</span>'
    colour = pages.CLAIM_COLOUR[cell] if row["kind"] == "claim" else pages.COLOUR[cell]
    hint = f' title="{e(deviation)}"' if deviation else ""
    return f'<span class="cell" style="background:{colour}"{hint}>{e(_symbol(row, cell))}</span>'


def _rows_html(t: dict, rows: list[dict]) -> str:
    e = pages.escape
    head = ("<tr><th>row</th>" + "".join(f"<th>run {r['run']}<br><small>{e(r['label'])}</small></th>"
                                         for r in t["runs"]) + "<th>deviations and failures</th></tr>")
    body = "".join(
        f'<tr><td class="row">{e(r["label"])}</td>'
        + "".join(f"<td>{_cell_html(r, c, d)}</td>"
                  for c, d in zip(r["cells"], r.get("deviations") or [None] * len(r["cells"])))
        + f'<td class="events">{"<br>".join(e(event_text(t, ev)) for ev in r["events"])}</td></tr>' for r in rows)
    return f"<table>{head}{body}</table>"


def render_html(t: dict) -> str:
    e = pages.escape
    legend = "".join(f'<span style="background:{pages.COLOUR[s]}">{e(grid.SYMBOL[s])} = {e(s)}</span>'
                     for s in grid.SEVERITY if s != "skipped")
    legend += '<span class="cell absent">absent = no record in a run on that GPU/target</span>'
    groups = [("Changed", [r for r in t["rows"] if r["changed"]], True),
              ("Absent from some runs", [r for r in t["rows"] if not r["changed"] and r["absent_in"]], False),
              ("Unchanged", [r for r in t["rows"] if not r["changed"] and not r["absent_in"]], False)]
    runs = pages.html_table(["run", "vLLM · date · commit", "started", "GPU/target", "verdict", "file"], [
        [r["run"], r["label"], r["started"], ", ".join(r["wheres"]), r["verdict"], pages.Code(r["file"])]
        for r in t["runs"]])
    parts = [f"<h1>{e(title(t))}</h1>", f'<p class="note">{e(intro(t))}</p>', f'<div class="legend">{legend}</div>',
             "<h2>Runs</h2>", runs]
    for name, rows, open_ in groups:
        parts.append(f"<h2>{e(name)} ({len(rows)})</h2>")
        if rows:
            parts.append(f"<details{' open' if open_ else ''}><summary>{len(rows)} rows</summary>"
                         f"{_rows_html(t, rows)}</details>")
    return pages.html_page(title(t), parts, CSS)


def write(t: dict, out_dir: Path) -> list[Path]:
    return pages.write_texts(out_dir, {"trend.html": render_html(t), "trend.md": render_markdown(t),
                                         "trend.json": json.dumps(t, indent=1, ensure_ascii=False)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.trend",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="results.json files (default: every run in the history)")
    parser.add_argument("--history", type=Path, default=None,
                        help=f"history folder to read (default without RUN files: {history.default_dir()})")
    parser.add_argument("--out", required=True, type=Path, help="directory for trend.html, trend.md, trend.json")
    args = parser.parse_args(argv)
    if args.runs and args.history:
        parser.error("give results files or --history, not both")
    try:
        t = trend(args.runs or history.files(args.history or history.default_dir()))
    except history.HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    written = write(t, args.out)
    print(f"{len(t['runs'])} runs, {t['counts']['rows']} rows, {t['counts']['changed']} changed; "
          f"wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
