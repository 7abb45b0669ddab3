"""serving/step_deltas: in the servers the suite starts, vLLM's RequestOutputCollector queues engine
steps instead of merging them into one delta; errors and non-delta outputs behave as before; the next
sitecustomize on the path still runs."""
import asyncio
import importlib.util
import os
import subprocess
import sys

import pytest

from lfm_conformance.serving.server import STEP_DELTAS


def _shim():
    spec = importlib.util.spec_from_file_location("_step_deltas_under_test", STEP_DELTAS / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Merging:
    """vLLM's collector, as 0.23-0.32 write it: a second put before a get merges (here: joins)."""

    def __init__(self, aggregate=True):
        self.aggregate, self.output, self.ready = aggregate, None, asyncio.Event()

    def put(self, output):
        if self.output is None or isinstance(output, Exception):
            self.output = output
            self.ready.set()
        else:
            self.output = self.output + output

    async def get(self):
        while (output := self.output) is None:
            await self.ready.wait()
        self.output = None
        self.ready.clear()
        if isinstance(output, Exception):
            raise output
        return output

    def get_nowait(self):
        output = self.output
        if output is not None:
            self.output = None
            self.ready.clear()
        if isinstance(output, Exception):
            raise output
        return output


@pytest.fixture
def collector_class():
    cls = type("Collector", (Merging,), {})
    _shim()._patch(type("module", (), {"RequestOutputCollector": cls}))
    return cls


def _drain(collector) -> list:
    async def run():
        got = []
        while (out := collector.get_nowait() or (await collector.get() if collector.output is not None else None)):
            got.append(out)
        return got
    return asyncio.run(run())


def test_steps_put_before_the_consumer_came_are_handed_over_one_by_one(collector_class):
    collector = collector_class()
    for step in (["a"], ["b"], ["c"]):
        collector.put(step)
    assert _drain(collector) == [["a"], ["b"], ["c"]]


def test_unpatched_collector_merges_them():
    collector = Merging()
    for step in (["a"], ["b"], ["c"]):
        collector.put(step)
    assert _drain(collector) == [["a", "b", "c"]]


def test_an_error_replaces_what_was_queued(collector_class):
    collector = collector_class()
    collector.put(["a"])
    collector.put(["b"])
    collector.put(RuntimeError("engine dead"))
    with pytest.raises(RuntimeError, match="engine dead"):
        asyncio.run(collector.get())


def test_non_delta_outputs_are_replaced_as_before(collector_class):
    collector = collector_class(aggregate=False)
    collector.put(["a"])
    collector.put(["b"])
    assert _drain(collector) == [["a", "b"]]  # Merging's own rule, untouched


def test_installed_vllm_collector_has_what_the_shim_patches():
    output_processor = pytest.importorskip("vllm.v1.engine.output_processor",
                                           reason="needs vLLM installed (the suite's environments have it)")
    cls = output_processor.RequestOutputCollector
    assert all(callable(getattr(cls, name, None)) for name in ("put", "get", "get_nowait"))
    collector = cls(output_processor.RequestOutputKind.DELTA, "r")
    assert collector.aggregate is True and collector.output is None and hasattr(collector, "ready")


def test_the_next_sitecustomize_on_the_path_still_runs(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['NEXT_SHIM_RAN'] = '1'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(STEP_DELTAS), str(tmp_path)])}
    out = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('NEXT_SHIM_RAN'))"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
