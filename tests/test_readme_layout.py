"""The README's Layout table names what the repository holds: every path it names is tracked, and
every top-level path, every lfm_conformance subpackage and module is named in it."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNLISTED = {".gitignore", "README.md"}


def layout_table() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    return [(path.strip(), what.strip()) for path, what in rows]


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def test_every_path_named_in_the_first_column_is_tracked():
    files = tracked()
    named = [p for path, _ in layout_table() for p in re.findall(r"`([^`]+)`", path)]
    missing = [p for p in named if not any(f == p or f.startswith(p.rstrip("/") + "/") for f in files)]
    assert not missing, f"README Layout names paths git does not track: {missing}"


def test_every_top_level_path_and_support_module_is_in_the_table():
    table = " ".join(f"{path} {what}" for path, what in layout_table())
    files = tracked()
    top = {f.split("/")[0] + ("/" if "/" in f else "") for f in files} - UNLISTED
    absent = sorted(p for p in top if f"`{p}`" not in table and f"`{p.rstrip('/')}" not in table)
    package = [f for f in files if f.startswith("lfm_conformance/") and not f.endswith("__init__.py")]
    subpackages = {"/".join(f.split("/")[:2]) + "/" for f in package if f.count("/") > 1}
    absent += sorted(p for p in subpackages if f"`{p}`" not in table)
    absent += sorted(f for f in package if f.count("/") == 2 and f"`{Path(f).name}`" not in table
                     and not f.startswith("lfm_conformance/checks/"))
    assert not absent, f"README Layout does not name: {absent}"
