"""Signature lint: a known deviation's signature matches its own failure and nothing else. Each entry
of suites/known_deviations.yaml is fed failures of its check that it was not recorded for: an empty
reply, a reply cut by max_tokens, HTTP 5xx with another body, a timeout, the check's other CheckFailed
problems (every `CheckFailed(...)` of the check modules its suite file imports), the check's own input
(a parser finding's model output and calls) and its bounded figures just outside their bounds. A text
is "recorded for" an entry when a recorded run (docs/*/results*.json.gz) shows it as that entry's
failure. No server."""
from __future__ import annotations

import ast
import gzip
import itertools
import json
import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lfm_conformance.data import deviations
from lfm_conformance.parsers import parser_findings as findings
from lfm_conformance.report import results
from lfm_conformance.report.observed import PATTERNS, RECORDED_RUNS, failure_of

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "lfm_conformance" / "checks"
KNOWN = deviations.load(vllm_version=None)

# What the suites pass for a problem's placeholders ({what}, {name}, {field}, ...), tried in turn.
FILLERS = ("X", "0", "a", "a malformed request", "more than 1 image(s)", "content", "reasoning", "tool_00")
EMPTY = ("", "''", "None", "null", "[]", "{}", "0 calls: []", "content ''", "content None", "text ''",
         "content '', finish_reason 'stop'", "text '', finish_reason 'stop'", "HTTP 200 with empty reply",
         "content ''; reasoning=''", "tool_calls []; content ''; reasoning ''", "tool_calls []; content 'null'; reasoning 'null'",
         "content '' (no <think> tag visible); reasoning fields ''", "reasoning_content=None; reasoning found in None")
CUT = ("finish_reason 'length'", "content 'The speed is', finish_reason 'length'",
       "text 'The speed is', finish_reason 'length'", "content ''; reasoning='2 + 2 ='",
       "tool_calls []; content ''; reasoning '<think>45 minutes is'")
# (the check prints "HTTP 500: <body>"; the bare "HTTP 500" of the 0.23.0 records came from an older check)
OTHER_5XX = ("HTTP 500: ", "HTTP 500: Internal Server Error", "HTTP 502: Bad Gateway", "HTTP 503: Service Unavailable",
             'HTTP 500: {"error":{"message":"EngineCore encountered an issue. See stack trace for the root cause.",'
             '"type":"InternalServerError","param":null,"code":500}}',
             'HTTP 500: {"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", '
             '"param": null, "code": 500}}')
TIMEOUT = ("APITimeoutError: Request timed out.", "Request timed out.", "APIConnectionError: Connection error.",
           "ReadTimeout: timed out", "connection closed")
GENERIC = EMPTY + CUT + OTHER_5XX + TIMEOUT
MIN_REPLY = 6  # a quoted text this long or longer in a recorded observation is a reply a max_tokens cut shortens


# -- the check's problems ------------------------------------------------------------------------
def suite_file(check: str) -> Path:
    """The suite file defining the test `check` (test_parser_finding_<id>[_end_to_end] are generated there)."""
    if check.startswith("test_parser_finding_"):
        return ROOT / "suites" / "test_parser_findings.py"
    found = [p for p in sorted((ROOT / "suites").glob("test_*.py"))
             if re.search(rf"^def {check}\(", p.read_text(encoding="utf-8"), re.M)]
    assert found, f"no suite file defines {check}"
    return found[0]


def _imported_checks(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "lfm_conformance.checks":
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lfm_conformance.checks."):
            names.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.ImportFrom) and node.module is None and node.level:
            names |= {a.name for a in node.names}
    return {n for n in names if (CHECKS / f"{n}.py").exists()}


@lru_cache(maxsize=None)
def check_modules(check: str) -> tuple[Path, ...]:
    """The check modules the suite file of `check` imports, and those they import in turn."""
    todo, seen = _imported_checks(suite_file(check)), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= _imported_checks(CHECKS / f"{name}.py") - seen
    return tuple(CHECKS / f"{n}.py" for n in sorted(seen))


def _renderings(node, assigned: dict) -> list[list]:
    """A problem expression as alternatives, each a list of text pieces and None (a placeholder)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.JoinedStr):
        return [[v.value if isinstance(v, ast.Constant) else None for v in node.values]]
    if isinstance(node, ast.IfExp):
        return _renderings(node.body, assigned) + _renderings(node.orelse, assigned)
    if isinstance(node, ast.Name) and node.id in assigned:
        return _renderings(assigned[node.id], assigned)
    return []  # re-raised problems (exc.problem): their own CheckFailed is collected where it is raised


def templates(module: Path) -> list[list]:
    """The problem texts a check module raises, as templates (text pieces and placeholders)."""
    out = []
    for func in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if not isinstance(func, (ast.FunctionDef, ast.Module)):
            continue
        assigned = {t.id: n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)}
        for call in ast.walk(func):
            if (isinstance(call, ast.Call) and call.args and getattr(call.func, "id", None) == "CheckFailed"
                    and isinstance(func, ast.FunctionDef)):
                out += _renderings(call.args[0], assigned)
    return out


def fill(template: list) -> set[str]:
    holes = template.count(None)
    choices = itertools.product(FILLERS, repeat=holes) if holes <= 3 else ((f,) * holes for f in FILLERS)
    texts = set()
    for values in choices:
        it = iter(values)
        texts.add("".join(p if p is not None else next(it) for p in template))
    return texts


@lru_cache(maxsize=None)
def problems(check: str) -> dict[str, frozenset[str]]:
    """Each problem template of the check (keyed by its text with placeholders as {}), its renderings."""
    return {"".join(p if p is not None else "{}" for p in t): frozenset(fill(t))
            for m in check_modules(check) for t in templates(m)}


# -- what recorded runs show ---------------------------------------------------------------------
def _recorded_docs() -> list[dict]:
    docs = []
    for pattern in PATTERNS:
        for path in sorted(RECORDED_RUNS.glob(pattern)):
            data = path.read_bytes()
            docs.append(json.loads(gzip.decompress(data) if path.suffix == ".gz" else data))
    return docs


@lru_cache(maxsize=1)
def recorded() -> dict[str, list[SimpleNamespace]]:
    """deviation id -> the failures recorded runs show for it (check, model, target, case, signature)."""
    out: dict[str, list[SimpleNamespace]] = {}
    for doc in _recorded_docs():
        version_of = {run["where"]: run["environment"]["vllm"] for run in doc["runs"]}
        for rec in doc["records"]:
            if rec["status"] not in ("fail", "error", "known-deviation") or rec["where"] not in version_of:
                continue
            known = deviations.KnownDeviations(KNOWN.entries, version_of[rec["where"]])
            case = rec.get("case") or results._case(rec["id"], f"{rec['model']}-{rec['target']}")
            dev = known.match(rec["check"], rec["model"], rec["target"], case=case)
            failure = failure_of(rec)
            if dev is not None and not dev.mismatches(failure):
                out.setdefault(dev.id, []).append(failure)
    return out


# -- the texts fed to a signature ----------------------------------------------------------------
def cut_variants(observed: str) -> set[str]:
    """A recorded observation as a reply cut short would show it: the text cut in half, and each quoted
    reply text (MIN_REPLY characters or more) cut to its first half, quotes kept."""
    out = {observed[: len(observed) // 2]}
    for m in re.finditer(r"'([^']*)'|\"([^\"]*)\"", observed):
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        if len(inner) >= MIN_REPLY:
            quote = observed[m.start()]
            out.add(observed[: m.start()] + quote + inner[: len(inner) // 2] + quote + observed[m.end():])
    return out


def in_process(check: str) -> bool:
    """A check of vLLM's parsers driven in-process (no server, so no reply max_tokens could cut)."""
    return suite_file(check).name == "test_parser_properties.py" or (
        suite_file(check).name == "test_parser_findings.py" and not check.endswith("_end_to_end"))


def own_inputs(check: str) -> set[str]:
    """A parser finding's input as the check would print it: the model output and the calls it holds."""
    out = set()
    for finding in findings.load():
        if check not in (findings.replay_test(finding["id"]), f"{findings.replay_test(finding['id'])}_end_to_end"):
            continue
        calls = finding.get("expected_calls") or []
        out |= {finding["model_output"], json.dumps(calls, ensure_ascii=False)}
        out |= {json.dumps(c["arguments"], ensure_ascii=False) for c in calls}
    return out


def outside_bounds(dev: deviations.Deviation, observed: str) -> set[str]:
    """A recorded observation with each bounded figure just outside its bound."""
    out = set()
    for field, pattern in dev.signature:
        found = re.search(pattern, observed) if field == "observed" else None
        for name, low, high in (dev.bounds if found else ()):
            start, end = found.span(name)
            for value in ([low - 1] if low is not None else []) + ([high + 0.01 if "." in found[name] else high + 1]
                                                                    if high is not None else []):
                text = f"{value:.3f}" if "." in found[name] else str(int(value))
                out.add(observed[:start] + text + observed[end:])
    return out


def wrong_matches(dev: deviations.Deviation, own: list[SimpleNamespace] | None = None) -> list[str]:
    """The failure texts of dev's check, not recorded for dev, that its signature matches."""
    own = recorded().get(dev.id, []) if own is None else own
    # A recorded problem with another recorded observation of the same entry is its own failure class
    # (a property's counts differ per fixture): only texts recorded for no case of dev are foreign.
    own_texts = {(p, o) for p in {f.problem for f in own} for o in {f.observed for f in own}}
    pattern = dict(dev.signature)["problem"]
    matched = {key: {t for t in texts if re.fullmatch(pattern, t)} for key, texts in problems(dev.check).items()}
    matched = {key: texts for key, texts in matched.items() if texts}
    wrong = [f"problem {a!r} and {b!r}: two of the check's problems" for a, b in itertools.combinations(sorted(matched), 2)]
    own_problems = {f.problem for f in own}.union(*matched.values())
    observed = set(GENERIC) | own_inputs(dev.check)
    for f in own:  # a reply cut by max_tokens: only where a server replied (not in-process parser checks)
        observed |= (set() if in_process(dev.check) else cut_variants(f.observed)) | outside_bounds(dev, f.observed)
    for problem in sorted(own_problems):
        for text in sorted(observed):
            if (problem, text) not in own_texts and not dev.mismatches(SimpleNamespace(problem=problem, observed=text)):
                wrong.append(f"problem {problem!r}, observed {text!r}")
    return wrong


@pytest.mark.parametrize("dev", KNOWN.entries, ids=lambda d: d.id)
def test_signature_matches_only_its_own_failure(dev):
    wrong = wrong_matches(dev)
    assert not wrong, f"known deviation {dev.id}: signature {dev.signature_text()} also matches:\n" + "\n".join(wrong[:10])


# -- the lint itself, shown failing on signatures broader than their evidence ---------------------
BASE = {"id": "broad", "owner": "vllm/openai-server", "models": ["*"], "vllm": ">=0", "documented": "d",
        "observed": "o", "evidence": "e"}


def _entry(tmp_path, check, signature, **extra) -> deviations.Deviation:
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump([{**BASE, "check": check, "signature": signature, **extra}]))
    return deviations.load(path, vllm_version=None).entries[0]


@pytest.mark.parametrize("check,signature,flagged", [
    # any problem of the robustness check: its other problems are matched
    ("test_malformed_request_refused", {"problem": ".*"}, "two of the check's problems"),
    # the old HTTP 500 signature: another 5xx body is matched
    ("test_malformed_request_refused", {"problem": ".*server error.*", "observed": r"^HTTP 500\b"},
     "EngineCore encountered an issue"),
    # the old direct-answer signature: a reasoning reply cut by max_tokens is matched
    ("test_trivial_prompt_answered_directly_with_empty_reasoning",
     {"problem": "^a direct answer is not in content with an empty reasoning field$",
      "observed": r"^content ''; reasoning='\S"}, "reasoning='2 + 2 ='"),
    # the old Modal-flags signature: an empty reply is matched
    ("test_thinking_split_under_published_modal_flags",
     {"problem": "^the chain of thought is not split out of content$", "observed": "; reasoning fields ''$"},
     "no <think> tag visible"),
    # the old exponent signature: the check's own input (the model's number) is matched
    ("test_parser_finding_float_exponent_streamed_end_to_end",
     {"problem": "^parsed tool calls differ from the model's calls$", "observed": r"\d[eE][+-]?\d"},
     "1.0899508454751278e+16"),
], ids=["any-problem", "http-500-any-body", "cut-reply", "empty-reply", "own-input"])
def test_lint_flags_a_signature_broader_than_its_evidence(tmp_path, check, signature, flagged):
    wrong = wrong_matches(_entry(tmp_path, check, signature), own=[])
    assert any(flagged in w for w in wrong), wrong


def test_numerics_signature_is_bounded_by_its_mechanism(tmp_path):
    """The rms_norm entries take a drift first over tolerance at position 2 or later (position 1 attends to
    one token, where a misread norm cancels); a drift from position 1 is another bug. A size bound is what
    the lint checks just outside its figure (shown on an entry that has one)."""
    recorded_dense = SimpleNamespace(problem="served logprobs differ from the transformers reference on the same weights",
                                     observed="max 1.598 at position 22 (token '1015'); first over tolerance at position 2 of 35")
    from_first = SimpleNamespace(problem=recorded_dense.problem,
                                 observed="max 1.598 at position 22 (token '1015'); first over tolerance at position 1 of 35")
    entry = next(d for d in KNOWN.entries if d.id == "cpu-rms-norm-non-contiguous-dense")
    assert entry.mismatches(recorded_dense) == [] and entry.mismatches(from_first)
    assert wrong_matches(entry, own=[recorded_dense]) == []
    sized = _entry(tmp_path, "test_served_logprobs_match_transformers_reference", {
        "problem": "^" + re.escape(recorded_dense.problem) + "$",
        "observed": r"^max (?P<size>\d+\.\d+) at position \d+ \(token .+\); first over tolerance at position 2 of \d+$",
        "bounds": {"size": {"max": 1.7}}})
    assert sized.mismatches(recorded_dense) == []
    assert sized.mismatches(SimpleNamespace(problem=recorded_dense.problem,
                                            observed=recorded_dense.observed.replace("1.598", "15.980")))


def test_problems_are_collected_from_the_check_modules_of_the_suite():
    assert check_modules("test_malformed_request_refused") == (CHECKS / "http.py", CHECKS / "robustness.py")
    keys = problems("test_malformed_request_refused")
    assert "{}: server error where a client error is due" in keys and "server error for a valid request" in keys
    assert "tool calls were not parsed" in problems("test_parser_finding_float_exponent_streamed_end_to_end")


def test_every_entry_of_a_recorded_version_is_fed_its_recorded_failures():
    """The lint's "recorded for" comes from the runs: the entries the replay tests cover have texts here."""
    seen = recorded()
    for dev_id in ("cpu-rms-norm-non-contiguous-dense", "cpu-rms-norm-non-contiguous-moe", "cpu-rms-norm-non-contiguous-vl",
                   "unreachable-image-url-is-a-server-error", "direct-answer-lands-in-reasoning"):
        assert seen.get(dev_id), dev_id
