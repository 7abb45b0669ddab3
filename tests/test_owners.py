"""Every finding says whose it is (`owner`, lfm_conformance/data/owners.py); a missing or unknown owner is one
error naming the file, the field and the allowed values."""
from __future__ import annotations

import pytest
import yaml

from lfm_conformance.data import deviations, owners
from lfm_conformance.parsers import parser_findings
from tests.test_deviations import ENTRY
from tests.test_parser_findings_file import GOOD


def test_every_recorded_finding_has_an_allowed_owner():
    assert {d.owner for d in deviations.load(vllm_version=None).entries} <= set(owners.OWNERS)
    assert {f["owner"] for f in parser_findings.load()} <= set(owners.OWNERS)


def test_a_parser_finding_and_the_entries_replaying_it_have_one_owner():
    by_finding = {f["id"]: f["owner"] for f in parser_findings.load()}
    for dev in deviations.load(vllm_version=None).entries:
        finding = dev.check.removeprefix("test_parser_finding_").removesuffix("_end_to_end")
        if dev.check.startswith("test_parser_finding_"):
            assert dev.owner == by_finding[finding], dev.id


@pytest.mark.parametrize("owner, message", [
    ("vllm/lfm2-parser", r"\[0\]\.owner: 'vllm/lfm2-parser' is not allowed; allowed values: vllm/lfm2-tool-parser, "),
    ("vLLM", r"\[0\]\.owner: 'vLLM' is not allowed; allowed values: .*guide, cpu-build/packaging"),
    (None, r"\[0\]: 'owner' is a required property"),
])
def test_bad_owner_of_a_known_deviation_is_named(tmp_path, owner, message):
    entry = {**ENTRY, "owner": owner} if owner else {k: v for k, v in ENTRY.items() if k != "owner"}
    path = tmp_path / "known_deviations.yaml"
    path.write_text(yaml.safe_dump([entry]))
    with pytest.raises(ValueError, match=message) as info:
        deviations.load(path, vllm_version="0.32.0")
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("owner, message", [
    ("lfm2", r"\[0\]\.owner: 'lfm2' is not allowed; allowed values: vllm/lfm2-tool-parser, "),
    (None, r"\[0\]: 'owner' is a required property"),
])
def test_bad_owner_of_a_parser_finding_is_named(tmp_path, owner, message):
    entry = {**GOOD, "owner": owner} if owner else {k: v for k, v in GOOD.items() if k != "owner"}
    path = tmp_path / "parser_findings.yaml"
    path.write_text(yaml.safe_dump([entry]))
    with pytest.raises(ValueError, match=message) as info:
        parser_findings.load(path)
    assert str(info.value).startswith(f"{path}: ")


def test_owner_kinds():
    assert {owners.kind(o) for o in owners.OWNERS} == set(owners.KINDS)
