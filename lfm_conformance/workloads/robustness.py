"""Hostile requests as data (suites/robustness_cases.yaml), sent as raw HTTP so that malformed JSON
and invalid UTF-8 reach the server byte for byte; and bounded load with clients that disconnect
mid-stream. The verdicts live in lfm_conformance/checks/robustness.py."""
from __future__ import annotations

import codecs
import copy
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from lfm_conformance.data.request_changes import apply_change
from lfm_conformance.data import schema

CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "robustness_cases.yaml"
PARTS_FILE = Path(__file__).resolve().parents[2] / "suites" / "request_parts.yaml"
DEEP_NESTING = 100_000
OVER_CAP_FACTOR = 4  # a "far over the cap" prompt: this many words per token of documented context
REQUEST_TIMEOUT_S = 120
CASE_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "oneOf": [{"required": ["json"]}, {"required": ["raw"]}, {"required": ["raw_bytes"]}],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "endpoint": {"type": "string", "pattern": "^/"},
            "method": {"enum": ["GET", "POST", "PUT", "DELETE"]},
            "json": {},
            "raw": {"type": "string"},
            "raw_bytes": {"type": "string"},
            "requires": {"enum": ["chat", "tools", "reasoning", "completions", "vision"]},
            "expect": {"enum": ["client_error", "accepted"]},
            "why": {"type": "string"},
        },
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    endpoint: str
    method: str
    body: object  # JSON data, or str (raw text), or bytes (raw bytes)
    requires: str | None
    expect: str  # "client_error" or "accepted"
    why: str

    def payload(self, model_name: str, context: int, closed_port: int) -> bytes:
        """The request body with placeholders filled in, as the bytes sent on the wire."""
        values = {"{model}": model_name, "{closed_port}": str(closed_port),
                  "{over_cap_words}": " ".join(["hello"] * (context * OVER_CAP_FACTOR)),
                  "{deep}": "[" * DEEP_NESTING + "]" * DEEP_NESTING}
        if isinstance(self.body, bytes):
            return _fill(self.body.decode("latin-1"), values).encode("latin-1")
        if isinstance(self.body, str):
            return _fill(self.body, values).encode("utf-8")
        return json.dumps(_fill_data(self.body, values)).encode("utf-8")


def _fill(text: str, values: dict) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _fill_data(data, values):
    if isinstance(data, str):
        return _fill(data, values)
    if isinstance(data, list):
        return [_fill_data(v, values) for v in data]
    if isinstance(data, dict):
        return {k: _fill_data(v, values) for k, v in data.items()}
    return data


class CaseFileError(Exception):
    """The case file is invalid; the message names the file, the field and what is allowed."""


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    schema.check(data, CASE_SCHEMA, path, CaseFileError)
    ids = [row["id"] for row in data]
    if len(ids) != len(set(ids)):
        raise CaseFileError(f"{path}: duplicate case ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    cases = []
    for row in data:
        if "raw_bytes" in row:
            body = codecs.escape_decode(row["raw_bytes"].encode("ascii"))[0]
        else:
            body = row.get("raw", row.get("json"))
        cases.append(Case(row["id"], row.get("endpoint", "/v1/chat/completions"), row.get("method", "POST"),
                          body, row.get("requires"), row.get("expect", "client_error"), row.get("why", "")))
    return cases


PARTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bases", "tool_choice_modes", "parts"],
    "properties": {
        "bases": {"type": "object", "additionalProperties": {"type": "object"}},
        "tool_choice_modes": {"type": "object"},
        "parts": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["part", "base", "requires", "variants"],
            "properties": {
                "part": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                "base": {"type": "string"},
                "requires": CASE_SCHEMA["items"]["properties"]["requires"],
                "tool_choice_modes": {"type": "array", "items": {"type": "string"}},
                "variants": {"type": "object", "minProperties": 1, "additionalProperties": {
                    "type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {"set": {"type": "object"},
                                   "delete": {"type": "array", "items": {"type": "string"}}}}},
            }}},
    },
}


def load_parts(path: Path = PARTS_FILE) -> list[Case]:
    """One client-error case per part of the request and malformed variant (x tool_choice mode)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    schema.check(data, PARTS_SCHEMA, path, CaseFileError)
    cases, controls = [], {}
    for i, part in enumerate(data["parts"]):
        base = data["bases"].get(part["base"])
        if base is None:
            raise CaseFileError(f"{path}: parts[{i}].base: {part['base']!r}; allowed values: {', '.join(data['bases'])}")
        modes = {}
        for mode in part.get("tool_choice_modes") or [None]:
            if mode is not None and mode not in data["tool_choice_modes"]:
                raise CaseFileError(f"{path}: parts[{i}].tool_choice_modes: {mode!r}; allowed values: "
                                    f"{', '.join(data['tool_choice_modes'])}")
            modes[mode] = data["tool_choice_modes"].get(mode)
        # the unchanged base is served: a variant's refusal is its change's doing
        controls.setdefault(part["base"], Case(f"part-base-{part['base']}", "/v1/chat/completions", "POST",
                                               copy.deepcopy(base), part["requires"], "accepted",
                                               "a valid request: the base every malformed variant changes once"))
        for name, change in part["variants"].items():
            for mode, choice in modes.items():
                body = copy.deepcopy(base) if choice is None else {**copy.deepcopy(base), "tool_choice": choice}
                try:
                    body = apply_change(body, change)
                except (KeyError, IndexError, TypeError) as exc:
                    raise CaseFileError(f"{path}: parts[{i}].variants.{name}: a pointer does not fit base "
                                        f"{part['base']!r} ({type(exc).__name__}: {exc})") from None
                case_id = f"part-{part['part']}-{name}" + (f"-{mode}" if mode else "")
                cases.append(Case(case_id, "/v1/chat/completions", "POST", body, part["requires"], "client_error",
                                  f"OpenAI chat-completions request schema: {part['part']} {name}"))
    return list(controls.values()) + cases


@dataclass(frozen=True)
class Exchange:
    """What came back for one request: status None when no HTTP response arrived at all."""

    status: int | None
    body: str
    transport_error: str | None = None


def send(host: str, port: int, method: str, path: str, payload: bytes, api_key: str | None = None,
         timeout: float = REQUEST_TIMEOUT_S) -> Exchange:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        return Exchange(resp.status, resp.read().decode("utf-8", errors="replace"))
    except (OSError, http.client.HTTPException) as exc:
        return Exchange(None, "", f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def health_status(host: str, port: int) -> int | None:
    """GET /health: the status, or None when the server does not answer."""
    return send(host, port, "GET", "/health", b"", timeout=30).status


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound and released; nothing else on loopback takes it that fast)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# -- bounded load with clients that hang up mid-stream -------------------------------------------
@dataclass
class StreamOutcome:
    status: int | None = None
    chunks: int = 0  # SSE events read before hanging up
    error: str | None = None


def stream_and_hang_up(host: str, port: int, endpoint: str, payload: bytes, read_events: int,
                       api_key: str | None, timeout: float) -> StreamOutcome:
    """Start a streaming request, read `read_events` SSE events, then close the socket abruptly."""
    out = StreamOutcome()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", endpoint, body=payload, headers=headers)
        resp = conn.getresponse()
        out.status = resp.status
        if resp.status != 200:
            out.error = resp.read(2000).decode("utf-8", errors="replace")
            return out
        while out.chunks < read_events:
            line = resp.fp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                out.chunks += 1
    except (OSError, http.client.HTTPException) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    finally:
        if conn.sock is not None:  # hang up without reading the rest: an abrupt client disconnect
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    return out


def hang_up_storm(host: str, port: int, endpoint: str, payload: bytes, clients: int, read_events: int,
                  api_key: str | None, deadline_s: float) -> tuple[list[StreamOutcome], float]:
    """`clients` concurrent streams, each hanging up after `read_events` events, all within
    `deadline_s` seconds (a client still running then is reported as timed out)."""
    outcomes = [StreamOutcome() for _ in range(clients)]
    started = time.monotonic()

    def run(i):
        outcomes[i] = stream_and_hang_up(host, port, endpoint, payload, read_events, api_key, timeout=deadline_s)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline_s - (time.monotonic() - started)))
    for t, outcome in zip(threads, outcomes):
        if t.is_alive():
            outcome.error = outcome.error or f"still streaming after {deadline_s:.0f} s"
    return outcomes, time.monotonic() - started


# -- the figures, summed over the run ------------------------------------------------------------
class Summary:
    """pytest plugin: sums the robustness figures every test records (record_property "figures",
    kind "robustness") per model, and prints them at the end of the run."""

    def __init__(self):
        self.per_model: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for name, value in report.user_properties:
            # Only the figures this suite records (they name the model); others' are not counted.
            if name == "figures" and isinstance(value, dict) and value.get("kind") == "robustness" \
                    and "model" in value:
                self.add(value)

    def add(self, fig: dict) -> None:
        row = self.per_model.setdefault(fig["model"], {"inputs": 0, "4xx": 0, "5xx": 0, "no_answer": 0,
                                                       "accepted": 0, "survived": True, "burst": "not run"})
        row["survived"] = row["survived"] and bool(fig.get("survived"))
        if "clients" in fig:  # the hang-up burst, not an input
            row["burst"] = f"{fig['streams_ok']}/{fig['clients']} streams served in {fig['seconds']} s"
            return
        row["inputs"] += 1
        status = fig.get("status")
        if status is None:
            row["no_answer"] += 1
        elif status >= 500:
            row["5xx"] += 1
        elif status >= 400:
            row["4xx"] += 1
        else:
            row["accepted"] += 1

    def lines(self) -> list[str]:
        return [f"{model}: inputs tried {r['inputs']}, 4xx {r['4xx']}, 5xx {r['5xx']}, no answer {r['no_answer']}, "
                f"accepted {r['accepted']}, clients hanging up mid-stream: {r['burst']}, "
                f"server survived {'yes' if r['survived'] else 'NO'}"
                for model, r in self.per_model.items()]

    def pytest_terminal_summary(self, terminalreporter, config):
        if self.per_model and not hasattr(config, "workerinput"):
            terminalreporter.write_sep("=", "robustness figures")
            for line in self.lines():
                terminalreporter.write_line(line)
