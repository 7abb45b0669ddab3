"""A request variant as data (suites/request_parts.yaml): `set` JSON pointers to values, `delete`
pointers, applied to a copy of a base request body. Used by the robustness workload and the upstream
reproductions alike."""
from __future__ import annotations

import copy


def apply_change(body: dict, change: dict) -> dict:
    """`body` (changed in place and returned) with `change`'s `set` and `delete` pointers applied."""
    for pointer, value in (change.get("set") or {}).items():
        parent, key = _parent(body, pointer)
        parent[key] = copy.deepcopy(value)
    for pointer in change.get("delete") or []:
        parent, key = _parent(body, pointer)
        del parent[key]
    return body


def _parent(body, pointer: str):
    """The container holding a JSON pointer's last step, and that step (an int for lists)."""
    steps = pointer.strip("/").split("/")
    node = body
    for step in steps[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    last = steps[-1]
    return node, int(last) if isinstance(node, list) else last
