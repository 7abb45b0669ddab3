"""A results document written out: results.json and its sign-off pages, in one reports folder."""
from __future__ import annotations

import json
from pathlib import Path

from lfm_conformance.report import signoff
from lfm_conformance.report.document import FILE_NAME


def write(doc: dict, out_dir: Path) -> list[Path]:
    """results.json plus the sign-off report (md and html) in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path, *signoff.write(doc, out_dir)]
