"""Guide corrections (lfm_conformance/report/corrections.py): one per guide-owned deviation, the guide's
sentences read from suites/claims.yaml, the suggested wording from suites/guide_corrections.yaml; a bad
corrections file is one error naming the file and the field."""
from __future__ import annotations

import pytest
import yaml

from lfm_conformance.data import deviations
from lfm_conformance.report import corrections, findings


def test_every_guide_finding_has_a_correction_with_the_guides_sentence():
    loaded = corrections.load()
    assert {c.deviation.id for c in loaded} == {d.id for d in findings.entries() if d.owner == "guide"}
    renamed = next(c for c in loaded if c.deviation.id == "reasoning-field-renamed")
    assert 'print("reasoning:", msg.reasoning_content)' in [claim.quote for claim in renamed.claims]


def test_written_correction_holds_sentence_observed_versions_wording_and_evidence(tmp_path):
    (path,) = corrections.write([c for c in corrections.load() if c.deviation.id == "mamba-cache-mode-all-rejected"],
                                tmp_path)
    assert path == tmp_path / "mamba-cache-mode-all-rejected" / "correction.md"
    text = path.read_text()
    for part in ("## The guide says", "--mamba-cache-mode (none vs all),", "## Observed instead",
                 "the entry's range &gt;=0.32", "## Suggested wording", "(none vs align)", "## Evidence",
                 "invalid choice: 'all'"):
        assert part in text, part


def test_main_writes_one_file_per_guide_finding(tmp_path, capsys):
    assert corrections.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.parent.name for p in tmp_path.glob("*/correction.md"))
    assert written == sorted(d.id for d in findings.entries() if d.owner == "guide")


def _write(tmp_path, entries):
    path = tmp_path / "guide_corrections.yaml"
    path.write_text(yaml.safe_dump(entries))
    return path


GOOD = yaml.safe_load(corrections.FILE.read_text())


@pytest.mark.parametrize("change, message", [
    ({"deviation": "unknown-role-accepted"}, r"\[0\]\.deviation: 'unknown-role-accepted' is not a known deviation "
                                             r"owned by the guide; allowed values: reasoning-field-renamed"),
    ({"erratum": "no-such"}, r"\[0\]\.erratum: 'no-such' is not an erratum of .*; allowed values: 8b-a1b-gpus"),
    ({"suggested": ""}, r"\[0\]\.suggested: '' should be non-empty"),
    ({"wording": "x"}, r"\[0\]: unknown key 'wording'; allowed keys: deviation, erratum, suggested"),
])
def test_bad_correction_is_named(tmp_path, change, message):
    path = _write(tmp_path, [{**GOOD[0], **change}] + GOOD[1:])
    with pytest.raises(ValueError, match=message) as info:
        corrections.load(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_guide_finding_without_correction_is_named(tmp_path):
    path = _write(tmp_path, GOOD[1:])
    with pytest.raises(ValueError, match=f"no correction for the guide-owned deviations {GOOD[0]['deviation']}"):
        corrections.load(path)


def test_a_check_no_claim_verifies_has_no_sentence(tmp_path):
    dev = deviations.Deviation("orphan", "test_nothing_claims_this", ("*",), None, ">=0", "d", "o", "e", owner="guide")
    path = _write(tmp_path, [{"deviation": "orphan", "suggested": "s"}])
    with pytest.raises(ValueError, match=r"\[0\]\.deviation: no claim of .* is verified by test_nothing_claims_this"):
        corrections.load(path, known=[dev])


def test_main_reports_a_bad_file_and_writes_nothing(tmp_path, capsys):
    path = _write(tmp_path, [{"deviation": "x"}])
    assert corrections.main(["--file", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "'suggested' is a required property" in capsys.readouterr().err and not (tmp_path / "out").exists()
