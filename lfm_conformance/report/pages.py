"""Page rendering, one home for every page of report/ (the sign-off, the release diff, the trend):
table cells typed by what they hold (a status, a claim status, a literal), Markdown and HTML tables
and text, the shared style and colours, a self-contained HTML page, and writing the pages."""
from __future__ import annotations

import html
from pathlib import Path

from lfm_conformance.report import coverage, grid

COLOUR = {"pass": "#c8e6c9", "fail": "#f4b4b4", "error": "#ef9a9a", "unexpected-pass": "#ffcc80",
          "not-run": "#cfd8dc", "skipped": "#cfd8dc", "pending": "#b3e5fc", "known-deviation": "#fff59d",
          "measured": "#dcedc8", "not-applicable": "#eceff1"}
CLAIM_COLOUR = {"verified": "#c8e6c9", "deviation": "#fff59d", "failed": "#f4b4b4", "not-run": "#cfd8dc",
                "pending": "#b3e5fc", "measured": "#dcedc8", "not-applicable": "#eceff1", "gpu-only": "#e1bee7",
                "real-weights-only": "#e1bee7", "uncheckable": "#eceff1"}


class Status(str):
    """A table cell holding a status: its symbol in Markdown, a coloured badge in HTML."""


class Code(str):
    """A table cell holding a command line or other literal text."""


class ClaimStatus(str):
    """A table cell holding a guide claim's status: its label in Markdown, a coloured badge in HTML."""


def html_page(title_text: str, parts: list[str], css: str | None = None) -> str:
    """A self-contained HTML page: the title, the sign-off's style (or `css`), the parts in order."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title_text)}</title>'
            f"<style>{CSS if css is None else css}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_texts(out_dir: Path, texts: dict[str, str]) -> list[Path]:
    """Each text in out_dir under its name, ending with a newline; the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (out_dir / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    return [out_dir / name for name in texts]


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pct(value) -> str:
    return "-" if value is None else f"{value:+.1%}"


# -- Markdown ---------------------------------------------------------------------------------------
def md_text(text) -> str:
    """No raw HTML in Markdown: a guide's <think> must show as written."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_cell(value) -> str:
    if isinstance(value, Status):
        return grid.SYMBOL[value]
    if isinstance(value, ClaimStatus):
        return coverage.LABEL[value]
    if isinstance(value, Code):
        return "`" + value.replace("`", "'").replace("|", "\\|") + "`"
    return md_text(value).replace("|", "\\|").replace("\n", "<br>")


def md_table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows] + [""]


def md_block(text: str) -> list[str]:
    return ["```text", text.replace("```", "'''"), "```", ""]


# -- HTML -------------------------------------------------------------------------------------------
CSS = """
body {font: 14px/1.45 system-ui, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #1b1f23;
      max-width: 1400px}
h1 {font-size: 22px; margin: 0 0 12px}
h2 {font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px}
h3 {font-size: 15px; margin: 18px 0 6px}
.verdict {font-size: 17px; font-weight: 600; padding: 12px 16px; border-radius: 6px; margin: 8px 0}
.verdict.ok {background: #c8e6c9; border: 1px solid #66bb6a}
.verdict.blocked {background: #f4b4b4; border: 1px solid #e53935}
.verdict.incomplete {background: #b3e5fc; border: 1px solid #0288d1}
.counts {color: #444; margin: 6px 0 14px}
.note {color: #444; max-width: 1100px}
table {border-collapse: collapse; margin: 6px 0 12px}
th, td {border: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; text-align: left}
th {background: #f6f8fa}
table.grid td {padding: 2px; min-width: 120px}
table.grid td.model {padding: 4px 8px; font-weight: 600; white-space: nowrap}
table.env td:first-child {font-weight: 600; white-space: nowrap}
.cell {padding: 3px 6px; margin: 1px 0; border-radius: 3px}
.cell small {display: block; color: #333; font-size: 11.5px}
pre {background: #f6f8fa; border: 1px solid #d0d7de; padding: 8px; white-space: pre-wrap; word-break: break-word;
     font-size: 12px; max-width: 1300px}
dl.dev {margin: 4px 0 8px}
dl.dev dt {font-weight: 600; float: left; width: 190px; clear: left}
dl.dev dd {margin: 0 0 4px 200px}
code {font-size: 12px; word-break: break-all}
details {margin: 6px 0}
summary {cursor: pointer; font-weight: 600}
.legend span {display: inline-block; padding: 1px 6px; margin: 0 4px 4px 0; border-radius: 3px; font-size: 12px}
"""


def escape(text) -> str:
    return html.escape(str(text), quote=True)


def html_cell(value) -> str:
    if isinstance(value, Status):
        return badge(value)
    if isinstance(value, ClaimStatus):
        return f'<span class="cell" style="background:{CLAIM_COLOUR[value]}">{escape(coverage.LABEL[value])}</span>'

    if isinstance(value, Code):
        return f"<code>{escape(value)}</code>"
    return escape(value)


def html_table(header: list[str] | None, rows: list[list], cls: str = "") -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}{body}</table>'


def badge(status: str) -> str:
    return f'<span class="cell" style="background:{COLOUR[status]}">{escape(grid.SYMBOL[status])}</span>'
