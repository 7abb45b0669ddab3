"""Robustness checks fed hand-built responses: each broken one fails with a message naming the problem."""
import json
import re

import pytest

from lfm_conformance.checks import CheckFailed
from lfm_conformance.checks import robustness as check
from lfm_conformance.workloads.robustness import CaseFileError, StreamOutcome, Summary, load_cases

OPENAI_ERROR = json.dumps({"error": {"message": "max_tokens must be at least 1", "type": "BadRequestError",
                                     "param": "max_tokens", "code": 400}})
REQ = "POST /v1/chat/completions {\"max_tokens\": -5}"


def test_openai_error_object_with_4xx_passes():
    check.refused_as_client_error(REQ, 400, OPENAI_ERROR)
    check.refused_as_client_error(REQ, 404, OPENAI_ERROR)


@pytest.mark.parametrize("status, body, problem", [
    (500, OPENAI_ERROR, "server error where a client error is due"),
    (503, "Internal Server Error", "server error where a client error is due"),
    (200, json.dumps({"choices": [{"message": {"content": "hi"}}]}), "accepted instead of refused"),
    (400, "There was an error parsing the body", "not JSON"),
    (400, json.dumps({"detail": "There was an error parsing the body"}), "not an OpenAI error object"),
    (400, json.dumps({"error": "bad"}), "not an OpenAI error object"),
    (400, json.dumps({"error": {"message": "", "type": "BadRequestError"}}), "not an OpenAI error object"),
    (400, json.dumps({"error": {"message": "bad"}}), "not an OpenAI error object"),
], ids=["500", "503-text", "200", "text-body", "fastapi-detail", "error-string", "empty-message", "no-type"])
def test_broken_refusals_fail(status, body, problem):
    with pytest.raises(CheckFailed, match=re.escape(problem)) as info:
        check.refused_as_client_error(REQ, status, body)
    assert REQ in str(info.value)  # the request that caused it is in the failure


def test_dead_server_mid_request_fails():
    with pytest.raises(CheckFailed, match="no HTTP response") as info:
        check.refused_as_client_error(REQ, None, "", "RemoteDisconnected: Remote end closed connection")
    assert "RemoteDisconnected" in str(info.value)


def test_accepted_checks_status_and_choices():
    check.accepted(REQ, 200, json.dumps({"choices": [{"message": {"content": "x"}}]}), "valid JSON")
    with pytest.raises(CheckFailed, match="server error"):
        check.accepted(REQ, 500, "", "valid JSON")
    with pytest.raises(CheckFailed, match="valid request refused"):
        check.accepted(REQ, 400, OPENAI_ERROR, "valid JSON")
    with pytest.raises(CheckFailed, match="without choices"):
        check.accepted(REQ, 200, "{}", "valid JSON")


def test_server_survived():
    check.server_survived(200, "case x")
    with pytest.raises(CheckFailed, match="server died after case x"):
        check.server_survived(None, "case x")
    with pytest.raises(CheckFailed, match="unhealthy after case x"):
        check.server_survived(503, "case x")


def test_hang_ups_served():
    good = [StreamOutcome(200, 3) for _ in range(4)]
    check.hang_ups_served(good, 4, 3)
    with pytest.raises(CheckFailed, match="2 of 4 concurrent streams failed") as info:
        check.hang_ups_served(good[:2] + [StreamOutcome(500, 0, "boom"), StreamOutcome(None, 0, "reset")], 4, 3)
    assert "HTTP 500" in str(info.value) and "reset" in str(info.value)


def test_answer_after_load():
    check.answer_after_load("A red square.", "A red square.", "load")
    with pytest.raises(CheckFailed, match="wrong answer to a normal request after load"):
        check.answer_after_load("A red sq", "A red square.", "load")


def test_case_file_is_valid_and_large_enough():
    cases = load_cases()
    assert len(cases) >= 30
    assert all(c.expect in ("client_error", "accepted") for c in cases)


def test_case_file_errors_name_file_and_field(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("- id: x\n  json: {}\n  expect: maybe\n")
    with pytest.raises(CaseFileError, match=r"cases.yaml: \[0\].expect: 'maybe' is not allowed; allowed values: client_error, accepted"):
        load_cases(path)
    path.write_text("- id: x\n  json: {}\n- id: x\n  raw: ''\n")
    with pytest.raises(CaseFileError, match="duplicate case ids"):
        load_cases(path)


def test_raw_bytes_cases_send_invalid_utf8():
    case = next(c for c in load_cases() if c.id == "invalid-utf8")
    payload = case.payload("m", 8, 1)
    with pytest.raises(UnicodeDecodeError):
        payload.decode("utf-8")
    assert b'"model": "m"' in payload


def test_summary_counts_figures_per_model():
    summary = Summary()
    for status in (400, 404, 500, None, 200):
        summary.add({"kind": "robustness", "model": "M", "case": f"c{status}", "status": status, "survived": True})
    summary.add({"kind": "robustness", "model": "M", "case": "hang-up-burst", "clients": 8, "streams_ok": 8,
                 "seconds": 2.5, "survived": False})
    assert summary.lines() == ["M: inputs tried 5, 4xx 2, 5xx 1, no answer 1, accepted 1, clients hanging up "
                               "mid-stream: 8/8 streams served in 2.5 s, server survived NO"]


def test_request_parts_change_one_thing_each():
    """Every part variant is its base request with exactly the change it names; each base is also
    sent unchanged (expected served), so a refusal is the change's doing."""
    from lfm_conformance.workloads.robustness import load_parts

    cases = load_parts()
    bases = {c.id.removeprefix("part-base-"): c for c in cases if c.id.startswith("part-base-")}
    assert set(bases) == {"chat", "tools", "history"} and all(c.expect == "accepted" for c in bases.values())
    variants = [c for c in cases if not c.id.startswith("part-base-")]
    assert len(variants) >= 30 and all(c.expect == "client_error" for c in variants)
    modes = {c.id.rsplit("-", 1)[1] for c in variants if c.id.startswith("part-tool-") and "-message-" not in c.id}
    assert modes == {"auto", "none", "required", "named"}
    by_id = {c.id: c for c in variants}
    assert by_id["part-tool-without-name-named"].body["tools"][0]["function"].keys() == {"description", "parameters"}
    assert by_id["part-tool-without-name-named"].body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    unknown = by_id["part-tool-message-unknown-tool-call-id"].body
    assert unknown["messages"][2]["tool_call_id"] == "call_nope" and unknown["messages"][:2] == bases["history"].body["messages"][:2]
    assert bases["history"].body["messages"][2]["tool_call_id"] == "call_1"  # the base itself is untouched


def test_request_parts_file_errors_name_file_and_field(tmp_path):
    from lfm_conformance.workloads.robustness import load_parts

    path = tmp_path / "parts.yaml"
    path.write_text("bases: {chat: {messages: []}}\ntool_choice_modes: {}\nparts:\n"
                    "- {part: x, base: chat, requires: chat, variants: {v: {set: {/messages/3/role: 1}}}}\n")
    with pytest.raises(CaseFileError, match=r"parts.yaml: parts\[0\].variants.v: a pointer does not fit base 'chat'"):
        load_parts(path)
    path.write_text("bases: {chat: {}}\ntool_choice_modes: {}\nparts:\n"
                    "- {part: x, base: chats, requires: chat, variants: {v: {delete: [/a]}}}\n")
    with pytest.raises(CaseFileError, match=r"parts\[0\].base: 'chats'; allowed values: chat"):
        load_parts(path)
