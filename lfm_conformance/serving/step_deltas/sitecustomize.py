"""Every engine step reaches a streamed response as its own delta, in every server the suite starts
(serving/server.py puts this folder first on the server's PYTHONPATH).

vLLM's RequestOutputCollector merges the deltas of several engine steps into one when the API
server falls behind the engine (load, a slow parser step): the tool and reasoning parsers then see
other pieces, and a streamed check's outcome would depend on timing. Here the collector queues
the steps instead of merging them, so a greedy stream is a function of the build: one token per
delta. Nothing else changes (non-delta outputs, errors, order). Whether it held is verified on
every judged stream (harness/streaming.token_level: a merged stream is NOT RUN, never judged).
Then the next sitecustomize on the path runs (e.g. a cpu_shim)."""
import collections
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

MODULE = "vllm.v1.engine.output_processor"


def _patch(module) -> None:
    cls = getattr(module, "RequestOutputCollector", None)
    if cls is None or not all(hasattr(cls, name) for name in ("put", "get", "get_nowait")):
        return  # another vLLM: unpatched, and token_level reports the merged streams
    put, get, get_nowait = cls.put, cls.get, cls.get_nowait

    def pending(self):
        return self.__dict__.setdefault("_lfmc_pending", collections.deque())

    def queued_put(self, output):
        if isinstance(output, Exception):
            pending(self).clear()
        elif getattr(self, "aggregate", False) and (self.output is not None or pending(self)) \
                and not isinstance(self.output, Exception):
            pending(self).append(output)
            return
        put(self, output)

    def next_step(self):
        if self.output is None and pending(self):
            self.output = pending(self).popleft()
            self.ready.set()

    async def queued_get(self):
        output = await get(self)
        next_step(self)
        return output

    def queued_get_nowait(self):
        output = get_nowait(self)
        if output is not None:
            next_step(self)
        return output

    cls.put, cls.get, cls.get_nowait = queued_put, queued_get, queued_get_nowait


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _patch(module)

            spec.loader.exec_module = exec_module
        return spec


def _run_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        candidate = os.path.join(folder, "sitecustomize.py")
        if folder != here and os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_lfmc_next_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return


if MODULE in sys.modules:
    _patch(sys.modules[MODULE])
else:
    sys.meta_path.insert(0, _PatchOnImport())
_run_next_sitecustomize()
