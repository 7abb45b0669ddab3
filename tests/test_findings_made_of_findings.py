"""A known deviation made of parser findings (`caused_by`, e.g. a parser property failing only on outputs
that recorded findings break) is handed upstream through its findings' reproductions: every finding it
names exists and has an in-process reproduction, and wherever the entry applies, so does each of them
(else the entry would claim a cause the suite does not show on that release). No server."""
import pytest

from lfm_conformance.data import deviations, matrix as matrix_mod
from lfm_conformance.parsers import parser_findings
from lfm_conformance.report import findings, upstream

VERSIONS = sorted(matrix_mod.load().vllm_versions)  # every release of the matrix
MADE_OF = [d for d in deviations.load(vllm_version=None).entries if d.caused_by]


def test_there_are_entries_made_of_findings():
    assert len(MADE_OF) >= 9


@pytest.mark.parametrize("dev", MADE_OF, ids=lambda d: d.id)
def test_every_cause_is_a_recorded_finding_with_a_reproduction(dev):
    known = {f["id"] for f in parser_findings.load()}
    assert set(dev.caused_by) <= known, f"{dev.id}: unknown findings {sorted(set(dev.caused_by) - known)}"
    assert all(findings.replayed_by(fid) for fid in dev.caused_by)


@pytest.mark.parametrize("version", VERSIONS)
def test_where_the_entry_applies_each_cause_applies(version):
    applying = deviations.load(vllm_version=version).applying(upstream.REPRO_TARGET)
    replayed = {d.check.removeprefix(findings.REPLAY) for d in applying if d.check.startswith(findings.REPLAY)}
    wrong = [f"{d.id}: {fid}" for d in applying if d.caused_by for fid in d.caused_by if fid not in replayed]
    assert not wrong, f"vLLM {version}: causes without a deviation of their own here: {wrong}"


def test_the_issue_draft_links_the_findings_reproductions():
    report = next(r for r in upstream.build_reports() if r.id == "parser-properties-findings-0-32-streamed")
    assert report.kind == "findings" and upstream.render_repro(report) is None
    text = upstream.render_issue(report, claims=None)
    assert "Not a defect of its own" in text and "`../parser-float-exponent-streamed/repro.py`" in text
    assert findings.paths(report.id, report.owner)[1:] == [
        "reports/upstream/parser-decimal-cut-at-point-streamed/repro.py",
        "reports/upstream/parser-float-exponent-streamed/repro.py", "reports/upstream/parser-surrogate-pair-escape/repro.py"]
