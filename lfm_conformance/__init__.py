"""lfm-conformance support code, one subpackage per role, lowest layer first:

- `data`: the suite's data files as typed objects (matrix.yaml, known deviations, probes, images).
- `parsers`: vLLM's tool/reasoning parsers driven in-process, generated model outputs, findings.
- `checks`: the conformance verdicts, plain functions over what a server returned.
- `workloads`: what the suite sends or computes beside a server (hostile requests, lm-eval,
  vLLM's benchmark, the transformers reference).
- `serving`: servers and endpoints: start, attach, stop; GPU, Docker and fleet plans.
- `report`: evidence and reports: results.json, the grid, the sign-off, merging runs.
- `harness`: the pytest glue that puts them together (plugin, perf opt-in, streaming helper).

Each layer imports only the layers `LAYERS` allows it (tests/test_layering.py keeps it so)."""

# layer -> the subpackages its modules may import (besides itself)
LAYERS = {
    "data": set(),
    "parsers": {"data"},
    "checks": {"data", "parsers"},
    "workloads": {"data"},
    "serving": {"data"},
    "report": {"data", "serving"},
    "harness": {"data", "parsers", "checks", "workloads", "serving", "report"},
}
