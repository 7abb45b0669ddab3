"""The endpoint under bad input and abrupt clients. Guide: vLLM "exposes an OpenAI-compatible API"
for every LFM2.5 model. A release must not answer a malformed request with a 5xx or die of it:
each case of suites/robustness_cases.yaml must get an OpenAI-style 4xx error object, /health must
stay 200, and a burst of streaming clients hanging up mid-stream must leave the server serving the
same answer as before. Requests go as raw HTTP (malformed JSON cannot go through the SDK) to the
servers the other suites start (no extra configuration).
"""
import json

import pytest

from lfm_conformance.checks import excerpt
from lfm_conformance.checks import robustness as check
from lfm_conformance.data import probes
from lfm_conformance.workloads import robustness

pytestmark = pytest.mark.robustness
CASES = robustness.load_cases() + robustness.load_parts()  # examples, then every part of the request
CLIENTS = 8  # concurrent streams in the hang-up burst
READ_EVENTS = 3  # SSE events each client reads before hanging up
BURST_DEADLINE_S = 60
STREAM_TOKENS = 512  # long enough that every client hangs up while its stream is still running
REPLY_BOUND = 256


def _applicable(model, case) -> None:
    if case.requires and not model.has(case.requires):
        pytest.skip(f"not applicable: {model.name} has no {case.requires} capability in the guide")


def _describe(case, payload: bytes) -> str:
    return f"{case.id}: {case.method} {case.endpoint} {excerpt(payload.decode('utf-8', errors='replace'), 300)}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_request_refused(model, case, request, record_property):
    _applicable(model, case)
    server = request.getfixturevalue("server")
    payload = case.payload(model.hf_id, model.context, robustness.closed_port(server.host))
    sent = _describe(case, payload)
    reply = robustness.send(server.host, server.port, case.method, case.endpoint, payload, server.api_key)
    health = robustness.health_status(server.host, server.port)
    record_property("figures", {"kind": "robustness", "model": model.name, "case": case.id,
                                "expect": case.expect, "status": reply.status, "survived": health == 200})
    check.server_survived(health, f"case {case.id}")  # first: a dead server is never read as a wrong error
    if case.expect == "accepted":
        check.accepted(sent, reply.status, reply.body, case.why)
    else:
        check.refused_as_client_error(sent, reply.status, reply.body, reply.transport_error)


def _normal_answer(server, model) -> str:
    """The model's greedy answer to its probe (chat, or completion for completions-only models)."""
    client, sampling = server.client(), probes.sampling(model.preset, temperature=0, max_tokens=REPLY_BOUND)
    if model.has("chat"):
        reply = client.chat.completions.create(model=model.hf_id, **probes.chat("hello"), **sampling)
        return reply.choices[0].message.content
    reply = client.completions.create(model=model.hf_id, prompt=probes.completion_prompt("thermodynamics"), **sampling)
    return reply.choices[0].text


def _taught_answer(model, matrix) -> str:
    """What a CPU stand-in was taught to answer (the part after a think block lands in content)."""
    teach = matrix.fixtures[model.fixture]["teach"]
    if model.has("chat"):
        return probes.reply("hello", teach).split("</think>", 1)[-1]
    return probes.completion_reply("thermodynamics", teach)


def test_server_survives_clients_hanging_up_mid_stream(model, matrix, server, record_property):
    # Expected: the taught reply on fixtures; with real weights, the same greedy answer as before the burst.
    expected = _taught_answer(model, matrix) if server.config.target.weights == "fixture" else _normal_answer(server, model)
    if model.has("chat"):
        endpoint, body = "/v1/chat/completions", {"messages": probes.chat("hello")["messages"]}
    else:
        endpoint, body = "/v1/completions", {"prompt": probes.completion_prompt("thermodynamics")}
    stream = {"model": model.hf_id, **body, "stream": True, "max_tokens": STREAM_TOKENS, "ignore_eos": True}
    outcomes, seconds = robustness.hang_up_storm(server.host, server.port, endpoint, json.dumps(stream).encode(),
                                                 CLIENTS, READ_EVENTS, server.api_key, BURST_DEADLINE_S)
    health = robustness.health_status(server.host, server.port)
    record_property("figures", {"kind": "robustness", "model": model.name, "case": "hang-up-burst",
                                "clients": CLIENTS, "seconds": round(seconds, 1),
                                "streams_ok": sum(o.status == 200 and o.chunks >= READ_EVENTS for o in outcomes),
                                "survived": health == 200})
    check.server_survived(health, f"{CLIENTS} clients hanging up mid-stream")
    check.hang_ups_served(outcomes, CLIENTS, READ_EVENTS)
    check.answer_after_load(_normal_answer(server, model), expected, f"{CLIENTS} clients hanging up mid-stream")
