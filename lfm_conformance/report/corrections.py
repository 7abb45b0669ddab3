"""Guide corrections: for each known deviation owned by the guide, reports/upstream/<id>/correction.md with
the guide's sentences (suites/claims.yaml: the claims its check verifies, and an erratum's readings), what the
suite observed instead and on which vLLM versions (the deviation entry, the recorded runs under docs/), the
suggested wording (suites/guide_corrections.yaml, the only authored part) and the evidence.

    python -m lfm_conformance.report.corrections [--out reports/upstream]

Exit status: 0 written, 2 a data file is invalid (one line naming the file and field, nothing written)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from lfm_conformance.data import claims as claims_mod
from lfm_conformance.data import deviations, schema
from lfm_conformance.report import findings, observed, pages

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "suites" / "guide_corrections.yaml"
OUT = ROOT / findings.UPSTREAM
NAME = "correction.md"
SCHEMA = schema.records(["deviation", "suggested"], {
    "deviation": {"type": "string", "minLength": 1},
    "suggested": {"type": "string", "minLength": 1},
    "erratum": {"type": "string", "minLength": 1},
})


@dataclass(frozen=True)
class Correction:
    deviation: deviations.Deviation
    claims: tuple[claims_mod.Claim, ...]  # the guide's sentences its check verifies
    erratum: claims_mod.Erratum | None
    suggested: str


def load(path: Path = FILE, known: list[deviations.Deviation] | None = None,
         guide_claims: claims_mod.Claims | None = None) -> list[Correction]:
    """The corrections, one per guide-owned deviation; ValueError naming the file and field otherwise."""
    known = list(findings.entries()) if known is None else known
    guide_claims = guide_claims or claims_mod.load()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    schema.check(data, SCHEMA, path)
    by_id = {d.id: d for d in known}
    guide_owned = [d.id for d in known if d.owner == "guide"]
    errata = {e.id: e for e in guide_claims.errata}
    out = []
    for i, entry in enumerate(data):
        dev = by_id.get(entry["deviation"])
        if dev is None or dev.owner != "guide":
            raise ValueError(f"{path}: [{i}].deviation: {entry['deviation']!r} is not a known deviation owned by the "
                             f"guide; allowed values: {', '.join(guide_owned) or 'none'}")
        if "erratum" in entry and entry["erratum"] not in errata:
            raise ValueError(f"{path}: [{i}].erratum: {entry['erratum']!r} is not an erratum of {guide_claims.path}; "
                             f"allowed values: {', '.join(errata)}")
        sentences = guide_claims.verified_by(dev.check, dev.cases)
        if not sentences:
            raise ValueError(f"{path}: [{i}].deviation: no claim of {guide_claims.path} is verified by "
                             f"{dev.check}{f'[{dev.cases[0]}]' if dev.cases else ''}: the guide's sentence is unknown")
        out.append(Correction(dev, sentences, errata.get(entry.get("erratum")), entry["suggested"]))
    missing = [d for d in guide_owned if d not in {c.deviation.id for c in out}]
    if missing:
        raise ValueError(f"{path}: no correction for the guide-owned deviations {', '.join(missing)}")
    return out


def render(c: Correction) -> str:
    dev, md = c.deviation, pages.md_text
    seen = observed.recorded().versions(dev.id)
    cases = f" (cases {md(', '.join(dev.cases))})" if dev.cases else ""
    out = [f"# Guide correction: {dev.id}", "",
           f"The LFM2.5 usage guide (suites/lfm2.5-vllm-usage-guide.md) says something vLLM does not do. Checked by "
           f"`{dev.check}`{cases} on {md(', '.join(dev.models)).replace('*', 'every model')}.", "", "## The guide says", ""]
    for claim in c.claims:  # verbatim: fenced, no Markdown escaping
        out += [f"{md(claim.section)} (claim `{claim.id}`):", "", *pages.md_block(claim.quote)]
    if c.erratum is not None:
        out += [f"Erratum `{c.erratum.id}` ({md(c.erratum.about)}), its readings:", ""]
        for r in c.erratum.readings:
            out += [f"{md(r.where)}:", "", *pages.md_block(r.words)]
    out += ["## Observed instead", "", *pages.md_block(dev.observed),
            f"- vLLM versions: the entry's range {md(dev.vllm)}; recorded runs (docs/): "
            + (", ".join(seen) if seen else "none") + ".",
            f"- The guide's promise, as the suite checks it: {md(dev.documented)}", "",
            "## Suggested wording", "", *pages.md_block(c.suggested), "## Evidence", "", *pages.md_block(dev.evidence),
            f"Recorded in suites/known_deviations.yaml (`{dev.id}`); the suite's check keeps asserting the guide's "
            "wording, so a vLLM that conforms again shows it as an unexpected pass."]
    return "\n".join(out) + "\n"


def write(corrections: list[Correction], out_dir: Path = OUT) -> list[Path]:
    return [pages.write_texts(Path(out_dir) / c.deviation.id, {NAME: render(c)})[0] for c in corrections]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lfm_conformance.report.corrections", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder of the per-finding folders (default {OUT})")
    parser.add_argument("--file", type=Path, default=FILE, help="the corrections data file")
    args = parser.parse_args(argv)
    try:
        written = write(load(args.file), args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
