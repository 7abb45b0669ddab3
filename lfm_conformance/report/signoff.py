"""The sign-off report, rendered from a results document (results.json) as signoff.md and one
self-contained signoff.html (inline CSS, no scripts): the verdict, the model x behaviour grid (one
line per GPU/target in a cell), what blocks, the known deviations by owner (documented vs observed,
with evidence and what this run saw), the findings to report upstream (per owner: status on this vLLM,
the path of each repro or guide correction), the guide coverage (which claims of the guide the run verified) and
the guide's errata, accuracy and other figures, the environment, and every check."""
from __future__ import annotations

import re
from pathlib import Path

from lfm_conformance.data import owners
from lfm_conformance.report import coverage, findings, grid, observed, pages
from lfm_conformance.report.pages import (  # noqa: F401 (the names diff.py and trend.py once used here)
    CLAIM_COLOUR, COLOUR, CSS, ClaimStatus, Code, Status, html_page, write_texts)

MD, HTML = "signoff.md", "signoff.html"
# the page helpers under the names this module has always used
_e = pages.escape
_html_cell = pages.html_cell
_html_table = pages.html_table
_badge = pages.badge
_md_text = pages.md_text
_md_cell = pages.md_cell
_md_table = pages.md_table
_md_block = pages.md_block
_fmt = pages.fmt
_pct = pages.pct
SHORT_REASON = 60
QUOTE_CHARS = 160  # of a claim's quote in the unverified list
OBSERVED_LINES = 12  # of a deviation's observed-now text shown in the deviations section


def write(doc: dict, out_dir: Path) -> list[Path]:
    return write_texts(out_dir, {MD: render_markdown(doc), HTML: render_html(doc)})


# -- what the report says (both renderers use these) ------------------------------------------------
def title(doc: dict) -> str:
    versions = sorted({r["environment"]["vllm"] or "?" for r in doc["runs"]})
    return f"LFM2.5 on vLLM {', '.join(versions)}: conformance sign-off ({', '.join(_wheres(doc))})"


def verdict_line(doc: dict) -> str:
    summary = doc["summary"]
    counts = summary["counts"]
    tally = ", ".join(f"{n} {grid.SYMBOL[s]}" for s, n in counts.items() if n and s != "skipped")
    if summary["verdict"] == "BLOCKED":
        parts = summary["blocking"] + [f"the suite could not check: {e}" for e in summary.get("suite_errors", [])]
        return "BLOCKED: " + "; ".join(parts + summary["notes"]) + f" ({tally})"
    if summary["verdict"] == "REGRESSIONS":
        d = doc["release_diff"]
        return (f"REGRESSIONS against the baseline (vLLM {d.get('baseline_vllm') or '?'}, {d['baseline']}): "
                + "; ".join(summary["regressions"]) + f" ({tally})")
    if summary["verdict"] == "INCOMPLETE":
        return (f"INCOMPLETE ({tally}): no failure, but this run cannot sign off "
                + ", ".join(_where_text(doc)) + ": " + "; ".join(summary.get("scope", []) + summary.get("incomplete", [])))
    devs = counts["known-deviation"]
    return (f"SIGN-OFF: {len(doc['records'])} checks on {', '.join(_wheres(doc))} ({tally}), no failure, error, "
            f"unexpected pass, NOT RUN or PENDING; {devs} known deviation{'s' * (devs != 1)} from the guide (listed below).")


def _where_text(doc: dict) -> list[str]:
    return _wheres(doc) or ["(no target)"]


def counts_line(doc: dict) -> str:
    return " | ".join(f"{grid.SYMBOL[s]} {s}: {n}" for s, n in doc["summary"]["counts"].items() if n)


def grid_table(doc: dict) -> tuple[list[str], list[tuple[str, list[list[dict]]]]]:
    """Suites (columns) and rows (model, one list per suite of per-GPU/target cell lines)."""
    records = doc["records"]
    suites = sorted({r["suite"] for r in records})
    models = list(dict.fromkeys(r["model"] for r in records))
    wheres = _wheres(doc)
    rows = []
    for model in models:
        cells = []
        for suite in suites:
            lines = []
            for where in wheres:
                recs = [r for r in records if (r["model"], r["suite"], r["where"]) == (model, suite, where)]
                if recs:
                    lines.append(_cell_line(recs, where if len(wheres) > 1 else None))
            cells.append(lines)
        rows.append((model, cells))
    return suites, rows


def _cell_line(recs: list[dict], where: str | None) -> dict:
    status = grid.worst(r["status"] for r in recs)
    worst = [r for r in recs if r["status"] == status]
    text = f"{grid.SYMBOL[status]} ({len(recs)})"
    if status == "known-deviation":
        note = ", ".join(dict.fromkeys((r["deviation"] or {}).get("id") or r["check"] for r in worst))
    elif status == "unexpected-pass":
        note = ", ".join(dict.fromkeys((r["deviation"] or {}).get("id") or r["check"] for r in worst))
        note += " no longer happens"
    elif status in ("fail", "error", "skipped", "not-run", "pending"):
        note = f"{worst[0]['check']}{_case(worst[0])}: {worst[0]['reason']}"
        note += f" (+{len(worst) - 1} more)" if len(worst) > 1 else ""
    elif status == "not-applicable":
        found = re.search(r"has no (\S+) capability", worst[0]["reason"])
        note = f"no {found.group(1)} capability" if found else worst[0]["reason"]
    else:
        note = ""
    full = "\n".join(f"{grid.SYMBOL[r['status']]} {r['check']}{_case(r)}" + (f": {r['reason']}" if r["reason"] else "")
                     for r in recs)
    short = note if len(note) <= SHORT_REASON else note[:SHORT_REASON - 3] + "..."
    return {"where": where, "status": status, "text": text, "note": short, "title": full}


def problems(doc: dict) -> list[dict]:
    return [r for r in doc["records"] if r["status"] in ("fail", "error", "unexpected-pass")]


def unsettled(doc: dict) -> list[str]:
    """What keeps a run without failures from signing off: scope gaps, then NOT RUN / PENDING groups."""
    summary = doc["summary"]
    return summary.get("scope", []) + summary.get("incomplete", [])


def deviation_groups(doc: dict) -> list[dict]:
    """Known deviations by id: the recorded entry, the cells it covers, what this run observed, and
    the vLLM versions seen showing it (this report's DEV records, the recorded runs under docs/)."""
    groups: dict[str, dict] = {}
    for rec in doc["records"]:
        if rec["status"] not in ("known-deviation", "unexpected-pass") or not rec["deviation"]:
            continue
        dev = rec["deviation"]
        group = groups.setdefault(dev["id"], {**dev, "records": []})
        group["records"].append(rec)
    version_of = _versions_by_where(doc)
    for group in groups.values():
        gone = [r for r in group["records"] if r["status"] == "unexpected-pass"]
        here = sorted({version_of.get(r["where"], "?") for r in group["records"] if r["status"] == "known-deviation"})
        state = [f"observed on this version (vLLM {', '.join(here)}: a DEV record of this report)"] if here else []
        state += ["no longer happens on " + ", ".join(f"{r['model']} / {r['where']}" for r in gone) + ": review"] if gone else []
        group["state"] = "; ".join(state)
        group["seen_on"] = seen_on(group["id"], here)
        group["owner"] = group.get("owner") or findings.owner_of(group["id"])
    return sorted(groups.values(), key=lambda g: findings.owner_order(g["owner"]))


def seen_on(dev_id: str, here: list[str]) -> str:
    """Where a deviation was seen: this report's versions, then the recorded runs' (docs/)."""
    recorded = observed.recorded().versions(dev_id)
    parts = [f"this report (vLLM {', '.join(here)})"] if here else []
    parts.append(f"recorded runs: vLLM {', '.join(recorded)}" if recorded else "no recorded run under docs/")
    return "; ".join(parts)


def carried_over(doc: dict) -> list[str]:
    """Deviations that apply to a run's vLLM by their version range (run "known_deviations") with no
    record of that run showing them or their absence: believed, not seen here."""
    lines = []
    for run in doc["runs"]:
        seen = {(r["deviation"] or {}).get("id") for r in doc["records"] if r["where"] == run["where"]}
        version = run["environment"]["vllm"] or "?"
        for dev in run.get("known_deviations") or ():
            if dev["id"] in seen:
                continue
            recorded = observed.recorded().versions(dev["id"])
            origin = (f"carried over from vLLM {', '.join(recorded)}, not yet observed here" if recorded
                      else "carried over by its range, observed by no recorded run (docs/) nor here")
            lines.append(f"{dev['id']} (vLLM {dev['vllm']}, {dev['check']}) on vLLM {version} / {run['where']}: {origin}")
    return lines


def _versions_by_where(doc: dict) -> dict[str, str]:
    return {run["where"]: run["environment"]["vllm"] or "?" for run in doc["runs"]}


def accuracy_rows(doc: dict) -> list[dict]:
    rows = []
    for rec in doc["records"]:
        for fig in rec["figures"]:
            if fig.get("kind") == "accuracy":
                measured, expected = fig.get("measured"), fig.get("expected")
                rel = (measured - expected) / abs(expected) if _numbers(measured, expected) and expected else None
                rows.append({"record": rec, **fig, "rel_diff": rel})
    return rows


def other_figures(doc: dict) -> list[dict]:
    return [{"record": rec, "figure": fig} for rec in doc["records"] for fig in rec["figures"]
            if fig.get("kind") != "accuracy"]


def environment_rows(run: dict) -> list[tuple[str, str]]:
    env, hw = run["environment"], run["environment"]["hardware"]
    if hw["kind"] == "gpu":
        machine = "; ".join(f"{g['name']}, {g['memory']}, driver {g['driver']}" for g in hw["gpus"])
    else:
        machine = f"CPU {hw['name']}, {hw['count']} cores, {hw.get('memory') or '? GiB'}"
    pkgs = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    commit = run["suite_commit"] or "unknown (not a git checkout)"
    if run["suite_dirty"]:
        commit += " + uncommitted changes"
    return [("GPU/target", f"{run['where']} (target {run['target']})"), ("hardware", machine),
            *_vllm_rows(env),
            *([("cpu shim", f"{shim['name']}: {shim['what']} (servers load it: "
                            "matrix.yaml vllm.versions)")] if (shim := env.get("cpu_shim")) else []),
            ("packages", pkgs),
            ("python", f"{env['python']} on {env['platform']}"), ("suite commit", commit),
            ("matrix", f"{run['matrix_file']} sha256 {run['matrix_sha256']}"),
            ("known deviations file", run["deviations_file"]),
            ("time", f"{run['started']} to {run['finished']} ({run['duration_s']} s), pytest exit status "
                     f"{run['exit_status']}"),
            ("pytest arguments", " ".join(run["args"]) or "(none)")]


def _vllm_rows(env: dict) -> list[tuple[str, str]]:
    """The vLLM under test; in remote mode the endpoint's, and the local one beside it."""
    if "endpoint" not in env:
        return [("vLLM", env["vllm"] or "not installed")]
    return [("vLLM", f"{env['vllm'] or 'unknown'} (the endpoint {env['endpoint']}, remote mode)"),
            ("local vLLM", f"{env.get('local_vllm') or 'not installed'} (runs the in-process parser checks "
                           "only where it equals the endpoint's)")]


def _wheres(doc: dict) -> list[str]:
    return list(dict.fromkeys([r["where"] for r in doc["runs"]] + [r["where"] for r in doc["records"]]))


def _case(rec: dict) -> str:
    return f"[{rec['case']}]" if rec.get("case") else ""


def _numbers(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _observed_now(rec: dict) -> str:
    lines = (rec["evidence"] or rec["reason"] or "").splitlines()
    more = f"\n[... {len(lines) - OBSERVED_LINES} more lines in results.json]" if len(lines) > OBSERVED_LINES else ""
    return "\n".join(lines[:OBSERVED_LINES]) + more


CARRIED_HEADING = "Applying by version range, not observed here"
CARRIED_NOTE = ("Entries of the deviations file whose vLLM range holds this version, with no record of this run showing "
                "them (their check was not selected, not run or not applicable): assumed from the versions that showed "
                "them, not seen on this one.")
HOW_TO_READ = ("Rows are models, columns are behaviours (suites/test_<behaviour>.py); a cell is the worst outcome "
               "of its checks, with the number of checks in brackets. " + grid.LEGEND + ". Known deviations "
               "(DEV) are differences between the usage guide and this vLLM version, recorded with evidence in "
               "suites/known_deviations.yaml: they do not block the sign-off but are listed below.")


def accuracy_table(doc: dict) -> tuple[list[str], list[list]]:
    header = ["model", "GPU/target", "task", "metric", "measured", "baseline", "rel. diff", "rtol", "samples",
              "baseline source", "review", "status"]
    return header, [[a["record"]["model"], a["record"]["where"], a.get("task", "-"), a.get("metric", "-"),
                     _fmt(a.get("measured")), _fmt(a.get("expected")), _pct(a["rel_diff"]), _fmt(a.get("rtol")),
                     _fmt(a.get("samples")), a.get("baseline_source") or "-", "yes" if a.get("review") else "no",
                     Status(a["record"]["status"])] for a in accuracy_rows(doc)]


def figures_table(doc: dict) -> tuple[list[str], list[list]]:
    return ["model", "GPU/target", "check", "kind", "figures"], [
        [f["record"]["model"], f["record"]["where"], f["record"]["check"] + _case(f["record"]),
         f["figure"].get("kind", "-"), _figure_text(f["figure"])] for f in other_figures(doc)]


def servers_table(run: dict) -> tuple[list[str], list[list]]:
    return ["server configuration", "ready (s)", "command (secrets redacted)"], [
        [s["config"], _fmt(s["ready_s"]), Code(s["command"])] for s in run["servers"]]


def checks_table(doc: dict) -> tuple[list[str], list[list]]:
    return ["model", "GPU/target", "behaviour", "check", "status", "time (s)", "reason"], [
        [r["model"], r["where"], r["suite"], r["check"] + _case(r), Status(r["status"]), _fmt(r["duration_s"]),
         r["reason"]] for r in doc["records"]]


COVERAGE_INTRO = ("Each testable claim of the usage guide (suites/claims.yaml) and what this run did to it, per "
                  "GPU/target: a claim is verified only when every check of it that applies there ran and passed. ")
COVERAGE_LEGEND = "; ".join(f"{coverage.LABEL[s]}: {coverage.MEANING[s]}" for s in coverage.STATUSES)


def coverage_missing(doc: dict) -> str | None:
    """Why the document has no coverage to show, or None."""
    cov = doc.get("coverage")
    if cov is None:
        return "No guide coverage in this results file (written before suites/claims.yaml existed)."
    if "error" in cov:
        return f"Guide coverage could not be computed: {cov['error']}"
    return None


def coverage_intro(doc: dict) -> str:
    cov = doc["coverage"]
    return (COVERAGE_INTRO + f"{len(cov['claims'])} claims in {len(cov['sections'])} sections of the guide; "
            f"{len(cov['unverified'])} verified on no GPU/target of this report.")


def coverage_counts_table(doc: dict) -> tuple[list[str], list[list]]:
    cov = doc["coverage"]
    shown = [s for s in coverage.STATUSES if any(cov["counts"][w][s] for w in cov["wheres"])]
    return ["GPU/target", *(coverage.LABEL[s] for s in shown)], [
        [w, *(cov["counts"][w][s] for s in shown)] for w in cov["wheres"]]


def coverage_sections_table(doc: dict) -> tuple[list[str], list[list]]:
    cov = doc["coverage"]
    return ["guide section", "claims", *cov["wheres"]], [
        [sec["section"], sec["claims"], *(", ".join(f"{n} {coverage.LABEL[s]}" for s, n in sec["counts"][w].items() if n)
                                         for w in cov["wheres"])] for sec in cov["sections"]]


def unverified_table(doc: dict) -> tuple[list[str], list[list]]:
    """The claims this report verified nowhere, worst status first: what they say and what decided them."""
    cov = doc["coverage"]
    rows = {r["id"]: r for r in cov["claims"]}

    def rank(cid):
        return min(coverage.STATUSES.index(rows[cid]["status"][w]) for w in cov["wheres"])

    out = []
    for cid in sorted(cov["unverified"], key=rank):
        row = rows[cid]
        quote = row["quote"] if len(row["quote"]) <= QUOTE_CHARS else row["quote"][:QUOTE_CHARS - 3] + "..."
        for i, w in enumerate(cov["wheres"]):
            out.append([cid if i == 0 else "", row["section"] if i == 0 else "", w, ClaimStatus(row["status"][w]),
                        quote if i == 0 else "", row["detail"][w]])
    return ["claim", "guide section", "GPU/target", "status", "the guide says", "what decided it"], out


def errata(doc: dict) -> list[dict]:
    return [] if coverage_missing(doc) else doc["coverage"]["errata"]


def erratum_rows(erratum: dict) -> tuple[list[str], list[list]]:
    """One row per matrix GPU: the readings that support the erratum's models there, and the suite."""
    return ["GPU", "readings that support it", "the suite"], [
        [r["gpu"], ", ".join(r["readings"]) or "none", r["suite"]] for r in erratum["rows"]]


def _figure_text(fig: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in fig.items() if k != "kind")


def _cell_label(line: dict) -> str:
    return f"{line['where']}: " if line["where"] else ""


# -- Markdown ---------------------------------------------------------------------------------------
def render_markdown(doc: dict) -> str:
    out = [f"# {title(doc)}", "", f"**{_md_text(verdict_line(doc))}**", "", counts_line(doc), "",
           "## Grid", "", _md_text(HOW_TO_READ), ""]
    suites, rows = grid_table(doc)
    out += _md_table(["model", *suites], [
        [model, *["\n".join(f"{_cell_label(line)}{line['text']} {line['note']}".rstrip() for line in cell)
                  for cell in cells]] for model, cells in rows])
    out += ["## What blocks the sign-off", ""]
    summary, bad = doc["summary"], problems(doc)
    notes = summary["notes"]
    if not bad and not notes:
        out += ["Nothing: no check failed, errored or passed unexpectedly.", ""]
    out += [f"- {_md_text(note)}" for note in notes + summary["blocking"]] + [""]
    if summary.get("suite_errors"):
        out += ["The suite could not check (its own error, not a verdict on vLLM):", ""]
        out += [f"- {_md_text(e)}" for e in summary["suite_errors"]] + [""]
    if unsettled(doc):
        out += ["## Not settled by this run (NOT RUN, PENDING, out of scope)", ""]
        out += [f"- {_md_text(u)}" for u in unsettled(doc)] + [""]
    for rec in bad:
        out += [f"### {grid.SYMBOL[rec['status']]} {rec['model']} / {rec['where']} / {rec['suite']} / "
                f"{rec['check']}{_case(rec)}", "", _md_text(rec["reason"]), ""]
        out += _md_block(rec["evidence"]) if rec["evidence"] else []
    out += ["## Known deviations from the guide", ""]
    groups = deviation_groups(doc)
    out += [] if groups else ["None in this run.", ""]
    for i, group in enumerate(groups):
        if i == 0 or group["owner"] != groups[i - 1]["owner"]:
            out += [f"### {_md_text(owner_heading(group['owner']))}", ""]
        cells = "; ".join(f"{grid.SYMBOL[r['status']]} {r['model']} / {r['where']} / {r['check']}{_case(r)}"
                          for r in group["records"])
        out += [f"#### {group['id']} (vLLM {group['vllm']}): {group['state']}", "",
                f"- **Documented (guide):** {_md_text(group['documented'])}",
                f"- **Observed (recorded):** {_md_text(group['observed'])}",
                f"- **Evidence (recorded):** {_md_cell(Code(group['evidence']))}",
                f"- **Cells:** {cells}", f"- **Seen on:** {_md_text(group['seen_on'])}", ""]
        seen = next((r for r in group["records"] if r["status"] == "known-deviation"), None)
        if seen is not None:
            out += [f"Observed in this run ({seen['model']} / {seen['where']}):", ""] + _md_block(_observed_now(seen))
    carried = carried_over(doc)
    if carried:
        out += [f"### {CARRIED_HEADING}", "", _md_text(CARRIED_NOTE), "", *[f"- {_md_text(c)}" for c in carried], ""]
    out += _md_upstream(doc) + _md_release_diff(doc) + _md_coverage(doc) + _md_errata(doc)
    out += ["## Accuracy", ""]
    header, acc = accuracy_table(doc)
    out += _md_table(header, acc) if acc else ["No accuracy figures in this run.", ""]
    header, figs = figures_table(doc)
    out += ["## Other figures", "", *_md_table(header, figs)] if figs else []
    out += ["## Environment", ""]
    for run in doc["runs"]:
        out += [f"### {run['where']}", "", *_md_table(["", "value"], [list(r) for r in environment_rows(run)]),
                *_md_table(*servers_table(run))]
    return "\n".join(out + ["## Every check", "", *_md_table(*checks_table(doc))])


UPSTREAM_NOTE = ("Each finding of suites/known_deviations.yaml (a parser finding through the entry replaying it) by "
                 "owner, with its status on this report's vLLM: new here (first seen on this release), still present "
                 "(seen on an earlier one too), fixed here (an unexpected pass, or a range that ended before this "
                 "release and a check that passed here), not checked here (it applies by its range, no record of "
                 "this run shows it). A vLLM or CPU-build finding is handed over as a standalone reproduction and "
                 "an issue draft (python -m lfm_conformance.report.upstream), a guide finding as a correction "
                 "(python -m lfm_conformance.report.corrections), at the paths shown.")


def owner_heading(owner: str) -> str:
    what = owners.OWNERS.get(owner, "not in suites/known_deviations.yaml (a results file older than it)")
    return f"Owner: {owner} ({what})"


def _md_upstream(doc: dict) -> list[str]:
    out = ["## Report upstream", "", _md_text(UPSTREAM_NOTE), ""]
    for owner, items in findings.report(doc):
        out += [f"### {_md_text(owner_heading(owner))}", ""]
        out += [f"- {_md_text(findings.line(f))}; " + ", ".join(f"`{p}`" for p in f["paths"]) for f in items]
        out += [""]
    return out


def release_diff_lines(doc: dict) -> tuple[str, str, list[str]] | None:
    """--baseline: (heading, what was compared, the regressions and inconclusive items), or None."""
    d = doc.get("release_diff")
    if not d:
        return None
    items = [f"regression: {x}" for x in d["regressions"]] + [f"inconclusive: {x}" for x in d["inconclusive"]]
    return (f"Release diff against the baseline (vLLM {d.get('baseline_vllm') or '?'}): {d['verdict']}",
            f"{d['scope']}; baseline {d['baseline']}; full diff: {', '.join(d['files'])}", items)


def _md_release_diff(doc: dict) -> list[str]:
    found = release_diff_lines(doc)
    if found is None:
        return []
    heading, note, items = found
    return [f"## {_md_text(heading)}", "", _md_text(note), "", *[f"- {_md_text(i)}" for i in items], ""]


def _md_coverage(doc: dict) -> list[str]:
    out = ["## Guide coverage", ""]
    missing = coverage_missing(doc)
    if missing:
        return out + [_md_text(missing), ""]
    out += [_md_text(coverage_intro(doc)), "", _md_text(COVERAGE_LEGEND), "", *_md_table(*coverage_counts_table(doc)),
            "### Per guide section", "", *_md_table(*coverage_sections_table(doc))]
    header, rows = unverified_table(doc)
    out += [f"### Not verified by this run ({len(doc['coverage']['unverified'])})", ""]
    return out + (_md_table(header, rows) if rows else ["Every claim was verified, or is uncheckable, somewhere.", ""])


def _md_errata(doc: dict) -> list[str]:
    out = ["## Guide errata", "", "Where the guide contradicts itself (or the recipe data it describes), both readings, "
           "and the one the suite checks.", ""]
    for e in errata(doc):
        out += [f"### {e['id']}: {_md_text(e['about'])} ({', '.join(e['models'])})", ""]
        out += [f"- **{r['id']}** ({_md_text(r['where'])}): \"{_md_text(r['words'])}\"" for r in e["readings"]]
        out += [f"- **The suite checks:** {e['suite_checks']}: {_md_text(e['why'])}", ""]
        out += _md_table(*erratum_rows(e)) if e["rows"] else []
    return out if errata(doc) else out[:2] + ["None recorded.", ""]


# -- HTML -------------------------------------------------------------------------------------------
def _grid_cell(cell: list[dict]) -> str:
    return "".join(f'<div class="cell" style="background:{COLOUR[line["status"]]}" title="{_e(line["title"])}">'
                   f'{_e(_cell_label(line))}<b>{_e(line["text"])}</b>'
                   + (f"<small>{_e(line['note'])}</small>" if line["note"] else "") + "</div>" for line in cell)


def _grid_html(doc: dict) -> str:
    suites, rows = grid_table(doc)
    head = "<tr><th>model</th>" + "".join(f"<th>{_e(s)}</th>" for s in suites) + "</tr>"
    body = "".join(f'<tr><td class="model">{_e(model)}</td>' + "".join(f"<td>{_grid_cell(c)}</td>" for c in cells)
                   + "</tr>" for model, cells in rows)
    return f'<table class="grid">{head}{body}</table>'


def _html_release_diff(doc: dict) -> list[str]:
    found = release_diff_lines(doc)
    if found is None:
        return []
    heading, note, items = found
    return [f"<h2>{_e(heading)}</h2>", f'<p class="note">{_e(note)}</p>',
            "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>" if items else ""]


def _html_upstream(doc: dict) -> list[str]:
    parts = ["<h2>Report upstream</h2>", f'<p class="note">{_e(UPSTREAM_NOTE)}</p>']
    for owner, items in findings.report(doc):
        parts.append(f"<h3>{_e(owner_heading(owner))}</h3><ul>" + "".join(
            f"<li>{_e(findings.line(f))}; " + ", ".join(
                f'<a href="{_e(p.removeprefix("reports/"))}"><code>{_e(p)}</code></a>' for p in f["paths"]) + "</li>"
            for f in items) + "</ul>")
    return parts


def _html_coverage(doc: dict) -> list[str]:
    parts = ["<h2>Guide coverage</h2>"]
    missing = coverage_missing(doc)
    if missing:
        return parts + [f"<p>{_e(missing)}</p>"]
    legend = "".join(f'<span style="background:{CLAIM_COLOUR[s]}" title="{_e(coverage.MEANING[s])}">'
                     f"{_e(coverage.LABEL[s])}</span>" for s in coverage.STATUSES)
    header, rows = unverified_table(doc)
    return parts + [f'<p class="note">{_e(coverage_intro(doc))}</p>', f'<div class="legend">{legend}</div>',
                    f'<p class="note">{_e(COVERAGE_LEGEND)}</p>', _html_table(*coverage_counts_table(doc)),
                    "<h3>Per guide section</h3>", _html_table(*coverage_sections_table(doc)),
                    f"<h3>Not verified by this run ({len(doc['coverage']['unverified'])})</h3>",
                    _html_table(header, rows) if rows else "<p>Every claim was verified, or is uncheckable, somewhere.</p>"]


def _html_errata(doc: dict) -> list[str]:
    parts = ["<h2>Guide errata</h2>", '<p class="note">Where the guide contradicts itself (or the recipe data it '
             "describes), both readings, and the one the suite checks.</p>"]
    for e in errata(doc):
        readings = "".join(f"<dt>{_e(r['id'])}</dt><dd>{_e(r['where'])}: &ldquo;{_e(r['words'])}&rdquo;</dd>"
                           for r in e["readings"])
        parts.append(f"<h3>{_e(e['id'])}: {_e(e['about'])} ({_e(', '.join(e['models']))})</h3>"
                     f'<dl class="dev">{readings}<dt>The suite checks</dt><dd>{_e(e["suite_checks"])}: {_e(e["why"])}'
                     "</dd></dl>" + (_html_table(*erratum_rows(e)) if e["rows"] else ""))
    return parts if errata(doc) else parts + ["<p>None recorded.</p>"]


def render_html(doc: dict) -> str:
    summary = doc["summary"]
    kind = {"SIGN-OFF": "ok", "INCOMPLETE": "incomplete"}.get(summary["verdict"], "blocked")
    parts = [f"<h1>{_e(title(doc))}</h1>",
             f'<div class="verdict {kind}">{_e(verdict_line(doc))}</div>',
             f'<div class="counts">{_e(counts_line(doc))}</div>',
             "<h2>Grid</h2>", f'<p class="note">{_e(HOW_TO_READ)}</p>',
             '<div class="legend">' + "".join(f'<span style="background:{COLOUR[s]}">{_e(grid.SYMBOL[s])} = {_e(s)}'
                                              "</span>" for s in grid.SEVERITY) + "</div>",
             _grid_html(doc), "<h2>What blocks the sign-off</h2>"]
    bad = problems(doc)
    if not bad and not summary["notes"]:
        parts.append("<p>Nothing: no check failed, errored or passed unexpectedly.</p>")
    parts += [f"<p>{_e(note)}</p>" for note in summary["notes"]]
    parts += ["<ul>" + "".join(f"<li>{_e(b)}</li>" for b in summary["blocking"]) + "</ul>"] if summary["blocking"] else []
    if summary.get("suite_errors"):
        parts += ["<p>The suite could not check (its own error, not a verdict on vLLM):</p><ul>"
                  + "".join(f"<li>{_e(e)}</li>" for e in summary["suite_errors"]) + "</ul>"]
    if unsettled(doc):
        parts += ["<h2>Not settled by this run (NOT RUN, PENDING, out of scope)</h2><ul>"
                  + "".join(f"<li>{_e(u)}</li>" for u in unsettled(doc)) + "</ul>"]
    for rec in bad:
        parts.append(f"<h3>{_badge(rec['status'])} {_e(rec['model'])} / {_e(rec['where'])} / {_e(rec['suite'])} / "
                     f"{_e(rec['check'] + _case(rec))}</h3><p>{_e(rec['reason'])}</p>"
                     + (f"<pre>{_e(rec['evidence'])}</pre>" if rec["evidence"] else ""))

    parts.append("<h2>Known deviations from the guide</h2>")
    groups = deviation_groups(doc)
    parts += [] if groups else ["<p>None in this run.</p>"]
    for i, group in enumerate(groups):
        if i == 0 or group["owner"] != groups[i - 1]["owner"]:
            parts.append(f"<h3>{_e(owner_heading(group['owner']))}</h3>")
        cells = "<br>".join(f"{_badge(r['status'])} {_e(r['model'])} / {_e(r['where'])} / {_e(r['check'] + _case(r))}"
                            for r in group["records"])
        parts.append(f"<h4>{_e(group['id'])} (vLLM {_e(group['vllm'])}): {_e(group['state'])}</h4>"
                     f'<dl class="dev"><dt>Documented (guide)</dt><dd>{_e(group["documented"])}</dd>'
                     f"<dt>Observed (recorded)</dt><dd>{_e(group['observed'])}</dd>"
                     f"<dt>Evidence (recorded)</dt><dd><code>{_e(group['evidence'])}</code></dd>"
                     f"<dt>Cells</dt><dd>{cells}</dd><dt>Seen on</dt><dd>{_e(group['seen_on'])}</dd></dl>")
        seen = [r for r in group["records"] if r["status"] == "known-deviation"]
        parts += [f"<details{' open' if i == 0 else ''}><summary>Observed in this run: {_e(rec['model'])} / "
                  f"{_e(rec['where'])} / {_e(rec['check'] + _case(rec))}</summary>"
                  f"<pre>{_e(_observed_now(rec))}</pre></details>" for i, rec in enumerate(seen)]
    carried = carried_over(doc)
    if carried:
        parts += [f"<h3>{_e(CARRIED_HEADING)}</h3>", f'<p class="note">{_e(CARRIED_NOTE)}</p>',
                  "<ul>" + "".join(f"<li>{_e(c)}</li>" for c in carried) + "</ul>"]

    parts += _html_upstream(doc) + _html_release_diff(doc) + _html_coverage(doc) + _html_errata(doc)
    header, acc = accuracy_table(doc)
    parts += ["<h2>Accuracy</h2>", _html_table(header, acc) if acc else "<p>No accuracy figures in this run.</p>"]
    header, figs = figures_table(doc)
    parts += ["<h2>Other figures</h2>", _html_table(header, figs)] if figs else []
    parts.append("<h2>Environment</h2>")
    for run in doc["runs"]:
        parts += [f"<h3>{_e(run['where'])}</h3>", _html_table(None, [list(r) for r in environment_rows(run)], "env")]
        if run["servers"]:
            parts.append(f"<details><summary>{len(run['servers'])} vLLM server configurations (command lines, "
                         f"secrets redacted)</summary>{_html_table(*servers_table(run))}</details>")
    parts.append(f"<h2>Every check</h2><details><summary>{len(doc['records'])} checks</summary>"
                 f"{_html_table(*checks_table(doc))}</details>")
    return html_page(title(doc), parts)
