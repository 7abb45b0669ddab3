"""The LFM2.5 usage guide as the suite reads it at test time: its sections (headings end in "¶"),
tables and shell commands. The guide is kept verbatim in suites/ (a fresh clone has no ../shared);
tests/test_claims.py checks the copy equals ../shared/seed's where that exists."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GUIDE_NAME = "lfm2.5-vllm-usage-guide.md"
GUIDE_FILE = Path(__file__).resolve().parents[2] / "suites" / GUIDE_NAME
SHARED_GUIDE = Path(__file__).resolve().parents[3] / "shared" / "seed" / GUIDE_NAME
HEADING_MARK = "¶"
UNSET = "–"  # a table cell the guide leaves empty (en dash)


class GuideError(ValueError):
    """The guide lacks something the suite reads from it; one line naming the file and what."""


def normalise(text: str) -> str:
    """Runs of whitespace as one space: quotes are compared this way."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Guide:
    path: Path
    sections: dict[str, str]  # heading (without the mark) -> its text up to the next heading

    def section(self, heading: str) -> str:
        if heading not in self.sections:
            raise GuideError(f"{self.path}: no section {heading!r}; sections: {', '.join(self.sections)}")
        return self.sections[heading]

    def contains(self, heading: str, quote: str) -> bool:
        """Whether the section holds the quote verbatim (whitespace normalised)."""
        return normalise(quote) in normalise(self.section(heading))

    def table(self, heading: str, first_column: str) -> list[dict[str, str]]:
        """The rows of the section's table whose header starts with `first_column`, as dicts by header.
        Only tables written one row a line are read."""
        lines = self.section(heading).splitlines()
        for i, line in enumerate(lines):
            cells = _cells(line)
            if cells and cells[0] == first_column:
                rows = []
                for row in lines[i + 2:]:
                    if not row.startswith("|"):
                        break
                    rows.append(dict(zip(cells, _cells(row))))
                return rows
        raise GuideError(f"{self.path}: section {heading!r}: no table with first column {first_column!r}")

    def commands(self, heading: str, program: str) -> list[Command]:
        """Every shell command of the section starting with `program` (e.g. "docker run"), its
        backslash-continued lines joined, split as the shell splits it (no expansion), and its comment."""
        found, lines = [], self.section(heading).splitlines()
        for i, line in enumerate(lines):
            if not line.startswith(program + " ") and line != program:
                continue
            text = line
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i]
            code, _, comment = text.partition(" #")
            found.append(Command(shlex.split(code), comment.strip()))
        if not found:
            raise GuideError(f"{self.path}: section {heading!r}: no `{program}` command")
        return found


@dataclass(frozen=True)
class Command:
    argv: list[str]
    comment: str  # what follows " #" on its line, e.g. "CUDA 13.0 (Blackwell)"


def _cells(line: str) -> list[str]:
    if not line.startswith("|"):
        return []
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text: str, path: Path = GUIDE_FILE) -> Guide:
    sections: dict[str, str] = {}
    heading, body = None, []
    for line in text.splitlines():
        if line.endswith(HEADING_MARK):
            if heading is not None:
                sections[heading] = "\n".join(body)
            heading, body = line[:-len(HEADING_MARK)].strip(), []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        sections[heading] = "\n".join(body)
    if not sections:
        raise GuideError(f"{path}: no section headings (lines ending in {HEADING_MARK!r})")
    return Guide(path, sections)


@lru_cache(maxsize=4)
def load(path: Path = GUIDE_FILE) -> Guide:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GuideError(f"{path}: cannot read the usage guide: {exc.strerror}") from None
    return parse(text, Path(path))


def model_labels(guide: Guide) -> dict[str, str]:
    """The guide's model names ("LFM2.5 1.2B JP (202606)") -> HF id, from the Supported Models tables."""
    labels = {}
    for heading in ("Dense Chat Models", "Mixture-of-Experts (MoE) Model", "Vision-Language Models"):
        for row in guide.table(heading, "Model"):
            labels[row["Model"]] = row["HuggingFace"]
    return labels


def expand_label(label: str) -> list[str]:
    """A row naming several models ("LFM2.5 VL 450M / 1.6B") as one name each; the later parts
    replace the first name's last word ("LFM2.5 VL 1.6B")."""
    first, *others = [p.strip() for p in label.split(" / ")]
    stem = first.rsplit(" ", 1)[0]
    return [first] + [f"{stem} {other}" for other in others]


def sampling_presets(guide: Guide) -> dict[str, dict]:
    """HF id -> the "Recommended Sampling" row as a preset ({parameter: number}, unset cells left out)."""
    labels = model_labels(guide)
    presets = {}
    for row in guide.table("Recommended Sampling", "Model"):
        preset = {}
        for name, cell in row.items():
            if name == "Model" or cell == UNSET:
                continue
            try:
                preset[name] = int(cell) if re.fullmatch(r"-?\d+", cell) else float(cell)
            except ValueError:
                raise GuideError(f"{guide.path}: Recommended Sampling: {row['Model']} {name}: {cell!r} is not a "
                                 f"number or {UNSET!r}") from None
        for label in expand_label(row["Model"]):
            if label not in labels:
                raise GuideError(f"{guide.path}: Recommended Sampling: {label!r} is not a model of the Supported "
                                 f"Models tables; allowed values: {', '.join(labels)}")
            presets[labels[label]] = preset
    return presets
