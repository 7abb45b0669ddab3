"""Guide coverage: which claims of the usage guide (suites/claims.yaml) a run verified, per claim and
per GPU/target, per guide section, and the claims it did not verify.

    python -m lfm_conformance.report.coverage reports/results.json   # the table for a run
    python -m lfm_conformance.report.coverage --claims                # the claims and their checks, no run

A claim is verified on a GPU/target only when every record of its checks that applies there ran and
passed, and at least one ran: nothing shows verified unless an assertion ran. A check with no
record there at all leaves the claim not run."""
from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path

from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import matrix as matrix_mod
from lfm_conformance.report import grid
from lfm_conformance.serving import gpu as gpu_mod

# Worst first, as a claim's status on one GPU/target; the last three say why no run can verify it here.
STATUSES = ("failed", "not-run", "pending", "deviation", "measured", "verified", "not-applicable",
            "gpu-only", "real-weights-only", "uncheckable")
LABEL = {"failed": "failed", "not-run": "not run here", "pending": "pending baseline", "deviation": "deviation",
         "measured": "measured", "verified": "verified", "not-applicable": "n/a", "gpu-only": "gpu-only",
         "real-weights-only": "real weights only", "uncheckable": "uncheckable"}
MEANING = {"failed": "a check failed, errored, or a known deviation no longer happens",
           "not-run": "a check did not run here (skipped, not selected, or no record)",
           "pending": "a gate without its baseline", "deviation": "a known deviation of this vLLM",
           "measured": "figures recorded, nothing asserted", "verified": "every applicable check ran and passed",
           "not-applicable": "the claim is not about this GPU/target",
           "gpu-only": "needs a GPU; this run had none", "real-weights-only": "a pass on fixtures proves nothing "
           "here (the fixture was built from matrix.yaml)", "uncheckable": "nothing can check it (reviewed reason)"}
FROM_RECORD = {"fail": "failed", "error": "failed", "unexpected-pass": "failed", "not-run": "not-run",
               "skipped": "not-run", "pending": "pending", "known-deviation": "deviation", "measured": "measured",
               "pass": "verified"}
UNVERIFIED = ("failed", "not-run", "pending", "deviation", "measured", "gpu-only", "real-weights-only")
DETAIL_LISTED = 3  # outcome groups named in a claim's detail
REASON_CHARS = 120


def build(doc: dict, claims: claims_mod.Claims | None = None, matrix: matrix_mod.Matrix | None = None,
          claims_file: Path = claims_mod.CLAIMS_FILE) -> dict:
    """The results document's `coverage`: per claim and GPU/target, a status and what decided it; an
    unloadable claims file gives {"error": ...} (a run's results are never lost to it)."""
    try:
        claims, matrix = _inputs(claims, matrix, Path(claims_file))
    except (claims_mod.ClaimsError, matrix_mod.MatrixError, OSError) as exc:
        return {"error": str(exc)}
    wheres = _wheres(doc, matrix)
    by_where: dict[str, dict[str, list[dict]]] = {w: {} for w in wheres}
    for rec in doc["records"]:
        by_where[rec["where"]].setdefault(rec["suite"], []).append(rec)
    rows = []
    for claim in claims.claims:
        status, detail = {}, {}
        for where, info in wheres.items():
            status[where], detail[where] = claim_status(claim, by_where[where], info)
        rows.append({"id": claim.id, "section": claim.section, "quote": claim.quote, "note": claim.note,
                     "checks": [str(ref) for ref in claim.checks], "status": status, "detail": detail})
    return {"claims_file": _shown_path(claims.path), "wheres": list(wheres), "claims": rows,
            "counts": {w: _count(r["status"][w] for r in rows) for w in wheres},
            "sections": [{"section": s, "claims": sum(r["section"] == s for r in rows),
                          "counts": {w: _count(r["status"][w] for r in rows if r["section"] == s) for w in wheres}}
                         for s in claims.sections()],
            "unverified": [r["id"] for r in rows if not any(r["status"][w] in ("verified", "not-applicable", "uncheckable")
                                                            for w in wheres)],
            "errata": [erratum_view(e, matrix) for e in claims.errata]}


def _inputs(claims, matrix, claims_file: Path) -> tuple[claims_mod.Claims, matrix_mod.Matrix]:
    """The claims and matrix given, else loaded (the default pair once per version of the files)."""
    if claims is None and matrix is None:
        return _load(claims_file, claims_file.stat().st_mtime_ns, matrix_mod.DEFAULT_MATRIX.stat().st_mtime_ns)
    matrix = matrix or matrix_mod.load()
    return claims or claims_mod.load(claims_file, matrix=matrix), matrix


@lru_cache(maxsize=4)
def _load(claims_file: Path, claims_mtime: int, matrix_mtime: int) -> tuple[claims_mod.Claims, matrix_mod.Matrix]:
    matrix = matrix_mod.load()
    return claims_mod.load(claims_file, matrix=matrix), matrix


def _wheres(doc: dict, matrix) -> dict[str, dict]:
    """Each GPU/target of the document: its target, whether it had a GPU, whether it served real weights."""
    out = {}
    runs = [(r["where"], r["target"], r["environment"]["hardware"]["kind"] == "gpu") for r in doc["runs"]]
    records = [(r["where"], r["target"], r["where"] in matrix.gpus) for r in doc["records"]]
    # A run on a stand-in hub cache (fixtures/standin_cache.py) took the real-weights path with stand-in
    # weights: its passes prove the path, not the real weights.
    standin = {r["where"] for r in doc["runs"] if ((r["environment"].get("weights") or {}).get("standin"))}
    for where, target, gpu in runs + records:
        weights = matrix.targets[target].weights if target in matrix.targets else None
        out.setdefault(where, {"name": where, "target": target, "gpu": gpu,
                               "real_weights": weights == "hf" and where not in standin,
                               "standin": where in standin, "is_gpu_row": where in matrix.gpus})
    return out


def claim_status(claim, records_by_suite: dict[str, list[dict]], where: dict) -> tuple[str, str]:
    """(status, detail) of one claim on one GPU/target (`where`: name, target, gpu, real_weights,
    is_gpu_row), from the records there, by suite."""
    if claim.uncheckable:
        return "uncheckable", claim.uncheckable
    if claim.targets is not None and where["target"] not in claim.targets:
        return "not-applicable", f"the claim is about {', '.join(claim.targets)}"
    if claim.gpus is not None and where["is_gpu_row"] and where["name"] not in claim.gpus:
        return "not-applicable", f"the claim is about {', '.join(claim.gpus)}"
    # On a GPU the claim names, a check the suite marks n/a is a check it does not run there.
    named_here = claim.gpus is not None and where["is_gpu_row"]
    seen, missing = [], []
    for ref in claim.checks:
        recs = [r for r in records_by_suite.get(ref.suite, ()) if ref.matches(r) and claim.applies(r)]
        if not recs:
            missing.append(str(ref))
        seen += recs
    counted = [r for r in seen if r["status"] != "not-applicable" or named_here]
    worst = grid.worst(["not-run"] * bool(missing) + ["not-run" if r["status"] == "not-applicable" else r["status"]
                                                     for r in counted])
    # A check that failed here fails the claim whatever else is said of it (never hidden as GPU-only).
    if worst is not None and FROM_RECORD[worst] == "failed":
        return "failed", _detail("failed", worst, counted, missing)
    if claim.gpu_only and not where["gpu"]:
        return "gpu-only", claim.gpu_only
    if claim.real_weights_only and not where["real_weights"]:
        if where.get("standin"):
            return "real-weights-only", f"real-weights path, stand-in weights: {claim.real_weights_only}"
        return "real-weights-only", claim.real_weights_only
    if worst is None:
        reasons = list(dict.fromkeys(r["reason"] for r in seen))
        return "not-applicable", "; ".join(reasons[:DETAIL_LISTED])
    status = FROM_RECORD[worst]
    if status == "verified":
        return status, f"{len(counted)} record{'s' * (len(counted) != 1)} passed"
    return status, _detail(status, worst, counted, missing)


def _detail(status: str, worst: str, records: list[dict], missing: list[str]) -> str:
    """What decided the status: missing checks, then the deciding outcomes grouped (check, deviation
    or reason), each with its number of cases and the first of them."""
    parts = [f"no record of {ref}" for ref in missing] if status == "not-run" else []
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        if rec["status"] == worst or (worst == "not-run" and rec["status"] == "not-applicable"):
            why = (rec.get("deviation") or {}).get("id") or _short(rec["reason"])
            groups.setdefault((rec["status"], rec["check"], why), []).append(rec)
    for (rec_status, check, why), recs in list(groups.items())[:DETAIL_LISTED]:
        first = recs[0]
        case = f"[{first['case']}]" if first.get("case") else ""
        more = f", +{len(recs) - 1} more" if len(recs) > 1 else ""
        parts.append(f"{grid.SYMBOL[rec_status]} {check}{': ' + why if why else ''} ({first['model']}{case}{more})")
    if len(groups) > DETAIL_LISTED:
        parts.append(f"+{len(groups) - DETAIL_LISTED} more outcomes")
    return "; ".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 3] + "..."


def _count(statuses) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for s in statuses:
        counts[s] += 1
    return counts


def _shown_path(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(claims_mod.ROOT)) if path.is_relative_to(claims_mod.ROOT) else str(path)


def erratum_view(erratum, matrix) -> dict:
    """An erratum as the report shows it, with one row per matrix GPU where its readings name GPUs:
    which readings support the models there, and what the suite does there (from matrix.yaml)."""
    view = {"id": erratum.id, "about": erratum.about, "models": list(erratum.models),
            "readings": [{"id": r.id, "where": r.where, "words": r.words, "gpus": list(r.gpus) if r.gpus else None}
                         for r in erratum.readings],
            "suite_checks": erratum.suite_checks, "why": erratum.why, "rows": []}
    if any(r.gpus for r in erratum.readings):
        for key in matrix.gpus:
            host = gpu_mod.host_gpu(matrix, key)
            verdicts = dict.fromkeys("runs" if gpu_mod.select(matrix, matrix.models[m], host).applicable else "n/a"
                                     for m in erratum.models)
            view["rows"].append({"gpu": key, "readings": [r.id for r in erratum.readings if r.gpus and key in r.gpus],
                                 "suite": " / ".join(verdicts)})
    return view


def suite_reading_problems(erratum, matrix) -> list[str]:
    """Where matrix.yaml runs the erratum's models on other GPUs than the reading the erratum says the
    suite checks supports (the erratum or the matrix is stale)."""
    reading = next(r for r in erratum.readings if r.id == erratum.suite_checks)
    if reading.gpus is None:
        return []
    out = []
    for row in erratum_view(erratum, matrix)["rows"]:
        expected = "runs" if row["gpu"] in reading.gpus else "n/a"
        if row["suite"] != expected:
            out.append(f"erratum {erratum.id}: on {row['gpu']} the suite {row['suite']} but reading "
                       f"{reading.id} (suite_checks) says {expected}")
    return out


# -- the command line -----------------------------------------------------------------------------------
def table_lines(coverage: dict) -> list[str]:
    wheres = coverage["wheres"]
    rows = [("claim", "section", *wheres)] + [(r["id"], r["section"], *(LABEL[r["status"][w]] for w in wheres))
                                              for r in coverage["claims"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def summary_lines(coverage: dict) -> list[str]:
    lines = ["", f"{len(coverage['claims'])} claims of the guide ({coverage['claims_file']}):"]
    for where in coverage["wheres"]:
        counts = coverage["counts"][where]
        lines.append(f"  {where}: " + ", ".join(f"{n} {LABEL[s]}" for s, n in counts.items() if n))
    lines += ["", "per section:"]
    for sec in coverage["sections"]:
        per = "; ".join(f"{w}: " + ", ".join(f"{n} {LABEL[s]}" for s, n in sec["counts"][w].items() if n)
                        for w in coverage["wheres"])
        lines.append(f"  {sec['section']} ({sec['claims']}): {per}")
    lines += ["", f"not verified by this run ({len(coverage['unverified'])}):"]
    rows = {r["id"]: r for r in coverage["claims"]}
    for cid in coverage["unverified"]:
        row = rows[cid]
        lines.append(f"  {cid}: " + "; ".join(f"{w} {LABEL[row['status'][w]]}: {row['detail'][w]}"
                                             for w in coverage["wheres"]))
    return lines


def claims_lines(claims: claims_mod.Claims) -> list[str]:
    lines = []
    for section in claims.sections():
        members = [c for c in claims.claims if c.section == section]
        lines.append(f"## {section} ({len(members)})")
        for c in members:
            flags = [f"{k}: {v}" for k, v in (("uncheckable", c.uncheckable), ("gpu only", c.gpu_only),
                                              ("real weights only", c.real_weights_only)) if v]
            scope = ", ".join(f"{k} {'/'.join(v)}" for k, v in (("models", c.models), ("GPUs", c.gpus),
                                                                ("targets", c.targets)) if v)
            lines.append(f"- {c.id}: \"{c.quote}\"" + (f" [{scope}]" if scope else ""))
            lines += [f"    check {ref}" + (f" (matrix.yaml {ref.matrix})" if ref.matrix else "") for ref in c.checks]
            lines += [f"    {f}" for f in flags]
    lines.append(f"{len(claims.claims)} claims in {len(claims.sections())} sections; {len(claims.errata)} errata: "
                 + ", ".join(e.id for e in claims.errata))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="a results.json (default: list the claims)")
    parser.add_argument("--claims", action="store_true", help="list the claims and their checks (no run needed)")
    parser.add_argument("--claims-file", type=Path, default=claims_mod.CLAIMS_FILE)
    args = parser.parse_args(argv)
    try:
        claims = claims_mod.load(args.claims_file)
        if args.claims or args.results is None:
            print("\n".join(claims_lines(claims)))
            return 0
        doc = json.loads(args.results.read_text(encoding="utf-8"))
        coverage = build(doc, claims)
    except claims_mod.ClaimsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.results}: not a readable results.json: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table_lines(coverage) + summary_lines(coverage)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
