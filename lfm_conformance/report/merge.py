"""Combine results.json files from several machines (one per GPU/target in the nightly fan-out)
into one report: results.json, signoff.md and signoff.html with a model x GPU x behaviour grid.

    python -m lfm_conformance.report.merge A.json B.json ... --out DIR [--allow-mismatch]

Exit status: 0 SIGN-OFF, 1 BLOCKED or INCOMPLETE (the report is written either way), 2 bad input (one line on
stderr, nothing written): unreadable or invalid files, files from different suite commits or
matrix hashes (unless --allow-mismatch), or two files holding the same model x GPU/target x check.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jsonschema

from lfm_conformance.data.schema import describe, where
from lfm_conformance.report import document, publish


class MergeError(Exception):
    """The inputs cannot be merged; the message is one line naming the files and the problem."""


def load(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise MergeError(f"{path}: not valid JSON: {exc}") from None
    validator = jsonschema.Draft202012Validator(document.schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise MergeError(f"{path}: {where(error.absolute_path)}: {describe(error)} "
                         f"(not a results.json of this suite's schema)")
    return doc


def merge(paths: list[Path], allow_mismatch: bool = False) -> dict:
    docs = [(Path(p), load(p)) for p in paths]
    if not allow_mismatch:
        for field, what in (("suite_commit", "suite commits"), ("matrix_sha256", "matrix hashes")):
            values = {doc[field] for _, doc in docs}
            if len(values) > 1:
                listed = ", ".join(f"{p} {_short(doc[field])}" for p, doc in docs)
                raise MergeError(f"the results come from different {what} ({listed}); merge runs of one suite "
                                 f"commit and matrix, or pass --allow-mismatch")
    owner: dict[tuple, Path] = {}
    for path, doc in docs:
        for rec in doc["records"]:
            key = document.record_key(rec)
            if key in owner and owner[key] != path:
                model, where, check, case = key
                raise MergeError(f"{owner[key]} and {path} both hold {model} on {where} / {check}"
                                 f"{f'[{case}]' if case else ''}; merge results from different GPUs/targets")
            owner[key] = path
    runs = [run for _, doc in docs for run in doc["runs"]]
    records = [rec for _, doc in docs for rec in doc["records"]]
    return document.assemble(runs, records, merged_from=[str(p) for p, _ in docs])


def _short(value: str | None) -> str:
    return "unknown" if value is None else value[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="results.json files, one per machine")
    parser.add_argument("--out", required=True, type=Path, help="directory for the merged report")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="merge results of different suite commits or matrix hashes")
    args = parser.parse_args(argv)
    try:
        doc = merge(args.files, args.allow_mismatch)
    except MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    written = publish.write(doc, args.out)
    summary = doc["summary"]
    print(f"{summary['verdict']}: {len(doc['records'])} checks from {len(doc['runs'])} runs "
          f"({', '.join(r['where'] for r in doc['runs'])}); wrote {', '.join(str(p) for p in written)}")
    return 0 if summary["verdict"] == "SIGN-OFF" else 1


if __name__ == "__main__":
    sys.exit(main())
