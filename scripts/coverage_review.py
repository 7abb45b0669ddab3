#!/usr/bin/env python3
"""The lines ./run tests never executed, grouped by the function (or module level) that holds them, each
with the reason it is not executed there (REASONS, reviewed by hand: the first pattern matching
`file:function` gives it):

    python scripts/coverage_review.py [reports/coverage/coverage.json] [--markdown OUT.md]

prints one line per group (`file:function  lines  (n lines)  reason`); `--markdown` writes the list as
docs/coverage-never-executed.md has it. Exit 1 when a group has no reason: review it, then add one."""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (reason, patterns over "file:function"), reviewed by hand; the first matching pattern gives the reason.
# Whole files only where the whole file has that one reason (GPU, Modal, perf, server-side); else the
# functions, one by one, so a new never-executed function elsewhere is UNREVIEWED until someone looks.
C, D, P, R, S, W = ("lfm_conformance/checks/", "lfm_conformance/data/", "lfm_conformance/parsers/",
                    "lfm_conformance/report/", "lfm_conformance/serving/", "lfm_conformance/workloads/")
REASONS = [
    ("two GPUs: tensor parallelism needs 2 GPUs on one node (benchmarks.tensor_parallel, a GPU-only configuration)",
     [r"^suites/test_perf\.py:(_gpus_here|test_tensor_parallel)", rf"^{W}benchmarks\.py:_tensor_parallel"]),
    ("conformance: the opt-in perf suite (benchmark protocol, knobs); `./run conformance` runs it (--perf), "
     "`./run tests` does not (minutes of benchmarks on 2 cores); the prefetch rule keeps a benchmark alone",
     [r"^suites/test_perf\.py:", r"^lfm_conformance/harness/perf_optin\.py:_(row|write)$", rf"^{W}benchmarks\.py:",
      r"^lfm_conformance/harness/plugin\.py:_prefetch_next$"]),
    ("gpu: nvidia-smi on a GPU host (detection and its failures, vLLM's minimum version on the gpu target); the "
     "nightly GPU job, scripts/gpu_device_run.sh", [rf"^{S}gpu\.py:"]),
    ("modal: the Modal fan-out (`fleet run`, deploy/modal_app.py) needs Modal credentials (the nightly workflow's "
     "modal backend); `fleet plan` is tested through fleet.plan()", [rf"^{S}fleet\.py:"]),
    ("server process: runs inside vLLM's server (a sitecustomize on its PYTHONPATH), which coverage does not trace; "
     "every served streamed check verifies its effect (one token per delta); `_die_with_parent` runs in the forked "
     "child before exec", [rf"^{S}(step_deltas|cpu_shims)/", rf"^{S}server\.py:_die_with_parent$"]),
    ("entry line: `sys.exit(main())` under `if __name__ == \"__main__\"`; the tests call main() in-process",
     [rf"^{D}versions\.py:<module>", rf"^{R}(bisect|corrections|coverage|diff|history|trend|upstream)\.py:<module>",
      rf"^{S}docker\.py:<module>"]),
    ("another vLLM: the 0.23 parser API and the import fallbacks for other releases run only with that release "
     "installed (0.23 is not a CI version; its recorded runs are replayed instead)",
     [rf"^{P}parser_api_0_2[36]\.py:", rf"^{P}parser_driver\.py:(present_api|_accepts)$"]),
    ("real weights: the hf path's accuracy (lm-eval's tokenizer from the snapshot, offline refusals of hub "
     "datasets) and generation_config reads run where a target has accuracy baselines or a checkpoint with "
     "generation_config: the gpu target; the stand-in cpu-hf run has neither",
     [rf"^{W}accuracy\.py:(measure|generation_kwargs|remote_datasets|_config|offline|_is_offline_refusal)$",
      rf"^{D}matrix\.py:local_weights$", r"^suites/test_accuracy\.py:(baseline|test_accuracy_meets_baseline|_leaf_count)$",
      r"^suites/test_sampling\.py:(_checkpoint_generation_config|test_preset_request_gets_no_server_default)$"]),
    ("by hand: building a missing release's environment (bisect `--build`, minutes), a repro that times out or "
     "whose runner dies, `python -m lfm_conformance.serving.keeper list`; tests/test_handover_commands.py and "
     "tests/test_keeper.py run the rest",
     [rf"^{R}bisect\.py:(matrix_versions|build_env|run_repro|status_of|run_repros|describe|bisect|main)$",
      rf"^{S}keeper\.py:(main|describe)$"]),
    ("process and network races: a process group already gone, a PID of another user, a kill that times out, an "
     "endpoint that stops answering between two calls, a fixture that cannot be built; each branch returns the "
     "safe answer or fails that server's tests with its log tail",
     [rf"^{S}keeper\.py:(pid_alive|end_group|Keeper\.(forget|release|_mismatch|sweep)|supervise)$",
      rf"^{S}pool\.py:(available_memory_gb|ServerPool\.(get|prefetch\.start|_bury|_start|_attach|_record)|_signal_group)$",
      rf"^{S}server\.py:(VllmServer\.(stop|log_text)|AttachedServer\.(alive|ensure_alive|stop)|_wait_group_gone)$",
      rf"^{S}remote\.py:RemoteEndpoint\.(host|alive|log_tail|record|probe)$", rf"^{S}redact\.py:scrub_files$",
      rf"^{W}robustness\.py:(send|stream_and_hang_up|hang_up_storm)$"]),
    ("defensive: an error branch for input these runs do not produce (an unreadable or malformed file, a reply "
     "without the field, a version string that does not parse, a finding property no recorded finding has yet); "
     "each raises or returns a named error",
     [rf"^{C}accuracy\.py:(wilson_bounds|detectable_effect|judge|_numeric|_names_server|_proportion)$",
      rf"^{C}guide\.py:docker_run_follows_guide$", rf"^{C}http\.py:(error_message|_openai_error_message)$",
      rf"^{C}loading\.py:reply_has_text$", rf"^{C}numerics\.py:logprobs_match$",
      rf"^{C}request_fidelity\.py:streamed_prompt_ids$", rf"^{C}robustness\.py:accepted$",
      rf"^{C}sampling\.py:(_sampling_keys_in|_is_neutral)$", rf"^{C}streaming\.py:_json_or_text$",
      rf"^{C}tool_calls\.py:(message_of|no_tool_calls|tools_not_served)$",
      rf"^{D}claims\.py:(load|matrix_fields|_cases|_param_id)$", rf"^{D}deviations\.py:(installed_vllm_version|KnownDeviations\.applying)$",
      rf"^{D}guide\.py:(Guide\.section|Guide\.table|Guide\.commands|parse|load|sampling_presets)$", rf"^{D}matrix\.py:validate$",
      r"^lfm_conformance/harness/plugin\.py:(_gpu_and_remote|pytest_report_header|_model_path|cpu_shim|server_start|_queued_items)$",
      rf"^{P}generated_outputs\.py:(spell|chunkings)$", rf"^{P}parser_driver\.py:(ParsedOutput\.calls_as_json|ServingParser\.__init__)$",
      rf"^{P}parser_findings\.py:(<module>|load|Tally\.rates|run_once|_first_value_start)$",
      rf"^{P}read_outputs\.py:(_signed_number|_Reader\.value|tool_output)$", rf"^{P}triggers\.py:served$",
      rf"^{R}coverage\.py:(claim_status|main)$", rf"^{R}diff\.py:(accuracy_delta|environment|diff)$",
      rf"^{R}findings\.py:(_holds|_lt)$", rf"^{R}history\.py:(add|_digest_of)$", rf"^{R}observed\.py:_version_key$",
      rf"^{R}results\.py:(_cpu_model|_memory|suite_commit|servers)$", rf"^{R}signoff\.py:environment_rows$",
      rf"^{R}trend\.py:(_symbol|main)$", rf"^{R}upstream\.py:(_rendering_spec|_served_spec|build_reports|render_repro|render_issue)$",
      rf"^{S}docker\.py:command$", rf"^{S}endpoint\.py:OpenAIEndpoint\.url$", rf"^{W}robustness\.py:load_parts$"]),
    ("suite branch not taken: a skip or error branch for what these runs do not have (a trigger never missed, a "
     "model without an endpoint, a server that hangs up or does not start, a 404 for an unknown image, a finding "
     "property no recorded finding has yet); taken only when the behaviour was not exercised, which it was",
     [r"^suites/test_completions\.py:(test_stop_string_cuts_text_before_it|test_chat_request_refused_for_missing_chat_template)$",
      r"^suites/test_context\.py:test_max_model_len_above_documented_context_refused$",
      r"^suites/test_parser_findings\.py:(_split_reasoning_output|replay|replay_served|_end_to_end_test\.test)$",
      r"^suites/test_request_fidelity\.py:_applies$", r"^suites/test_tools_unsupported\.py:(test_tools_request_gets_no_tool_calls|_body)$",
      r"^suites/test_vision\.py:(image_host\.Handler\.do_GET|_post_chat|_documented_limit|test_image_limit_without_flag_measured)$"]),
]


def ranges(lines: list[int]) -> str:
    out, start, prev = [], None, None
    for n in sorted(lines):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else str(start))
    return ", ".join(out)


def enclosing(tree: ast.AST) -> dict[int, str]:
    """Line -> innermost def/class name (dotted), module level unnamed."""
    owner: dict[int, str] = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                for n in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owner[n] = name
                walk(child, name + ".")
            else:
                walk(child, prefix)
    walk(tree, "")
    return owner


def groups(report: dict) -> list[tuple[str, str, list[int]]]:
    out = []
    for path, data in sorted(report["files"].items()):
        missing = data["missing_lines"]
        if not missing:
            continue
        owner = enclosing(ast.parse((ROOT / path).read_text(encoding="utf-8")))
        by: dict[str, list[int]] = {}
        for n in missing:
            by.setdefault(owner.get(n, "<module>"), []).append(n)
        out += [(path, name, lines) for name, lines in by.items()]
    return out


def reason(file: str, name: str) -> str | None:
    key = f"{file}:{name}"
    return next((why for why, patterns in REASONS for pattern in patterns if re.search(pattern, key)), None)


def markdown(found, report) -> str:
    lines = ["# Lines `./run tests` never executes, and why", "",
             f"Generated by `python scripts/coverage_review.py --markdown docs/coverage-never-executed.md` from a full "
             f"`./run tests` (combined: {report['totals']['percent_covered_display']}% line + branch, "
             f"{sum(len(g[2]) for g in found)} lines never executed in {len(found)} groups). Grouped by reason, then "
             "by the function that holds them; the reasons are `REASONS` in the script, reviewed by hand.", ""]
    by: dict[str, list] = {}
    for file, name, group in found:
        by.setdefault(reason(file, name) or "UNREVIEWED", []).append((file, name, group))
    for why, groups_ in sorted(by.items(), key=lambda kv: -sum(len(g[2]) for g in kv[1])):
        lines += [f"## {why.split(':')[0]} ({sum(len(g[2]) for g in groups_)} lines)", "", why[why.find(':') + 1:].strip() + ".", ""]
        lines += [f"- `{file}` `{name}`: {ranges(group)}" for file, name, group in groups_]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    out = None
    if "--markdown" in argv:
        i = argv.index("--markdown")
        out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    path = Path(argv[0]) if argv else ROOT / "reports" / "coverage" / "coverage.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: {path}: {exc} (run ./run tests first)", file=sys.stderr)
        return 2
    found = groups(report)
    for file, name, lines in found:
        print(f"{file}:{name}  {ranges(lines)}  ({len(lines)} lines)  {reason(file, name) or 'UNREVIEWED'}")
    unreviewed = [f"{f}:{n}" for f, n, _ in found if reason(f, n) is None]
    print(f"{sum(len(g[2]) for g in found)} lines never executed in {len(found)} groups; "
          f"total {report['totals']['percent_covered_display']}% (line + branch); {len(unreviewed)} groups without a reason")
    if out:
        out.write_text(markdown(found, report), encoding="utf-8")
        print(f"wrote {out}")
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
