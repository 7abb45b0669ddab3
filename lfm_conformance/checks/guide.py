"""The suite's own data against the guide's text, read at test time (lfm_conformance/data/guide.py):
the sampling presets, the Docker command, the benchmark protocol. No server: these catch a
matrix.yaml or a command builder that drifted from what the guide prints."""
from __future__ import annotations

import os
from collections import Counter
from typing import Sequence

from lfm_conformance.checks import CheckFailed
from lfm_conformance.data.guide import UNSET

SAMPLING = ("temperature", "top_k", "min_p", "repetition_penalty")


def preset_equals_guide(model: str, preset: dict, guide_row: dict | None) -> None:
    """The model's client-side preset (matrix.yaml) is its row of the guide's Recommended Sampling
    table; a cell the guide leaves unset ("–") must be unset in the preset too."""
    if guide_row is None:
        raise CheckFailed(f"{model}: the guide's Recommended Sampling table has no row for this model",
                          "a row naming the model", "none")
    wrong = [f"{name}: guide {_shown(guide_row.get(name))}, matrix.yaml {_shown(preset.get(name))}"
             for name in sorted(set(SAMPLING) | set(preset) | set(guide_row))
             if not _same(guide_row.get(name), preset.get(name))]
    if wrong:
        raise CheckFailed(f"{model}: matrix.yaml preset differs from the guide's Recommended Sampling row",
                          _preset_text(guide_row), _preset_text(preset), evidence="; ".join(wrong))


def guide_image(pulls: Sequence, blackwell: bool) -> str:
    """The image the guide pulls for this GPU class: the pull commented "Blackwell" on Blackwell, the
    other one elsewhere (`pulls`: the guide's `docker pull` commands with their comments)."""
    chosen = [c.argv[-1] for c in pulls if ("Blackwell" in c.comment) == blackwell]
    if len(chosen) != 1:
        raise CheckFailed("the guide's Docker section does not name one image per GPU class",
                          "one `docker pull` commented (Blackwell) and one not",
                          "; ".join(f"{' '.join(c.argv)}  # {c.comment}" for c in pulls))
    return chosen[0]


def docker_run_follows_guide(observed: Sequence[str], guide_run: Sequence[str], *, image: str, hf_id: str,
                             flags: Sequence[str] = (), env: dict | None = None) -> None:
    """`observed` is the guide's `docker run` with only the documented changes for one row: the
    image for its GPU, its model in `--model`, its documented serve flags after the guide's
    arguments, and its environment as `-e KEY=VALUE` docker options. Options compare as units
    (an option and its values), in any order; `~` is expanded as the shell expands it."""
    expected = list(guide_run)
    guide_image_at = _image_index(expected, image)
    if guide_image_at is None or "--model" not in expected[guide_image_at:]:
        raise CheckFailed("the guide's docker run has no image or no --model to compare with",
                          f"an image of {image.split(':')[0]} followed by --model", " ".join(guide_run))
    expected[guide_image_at] = image
    model_at = expected.index("--model", guide_image_at) + 1
    expected[model_at] = hf_id
    env_units = [f"{k}={v}" for k, v in sorted((env or {}).items())]
    expected = expected[:guide_image_at] + [t for kv in env_units for t in ("-e", kv)] + expected[guide_image_at:]
    expected += list(flags)
    at = _image_index(list(observed), image)
    problems = []
    if list(observed[:2]) != list(expected[:2]):
        problems.append(f"command {' '.join(observed[:2])!r} instead of {' '.join(expected[:2])!r}")
    if at is None:
        problems.append(f"no image {image}")
    else:
        if observed[at] != image:
            problems.append(f"image {observed[at]} instead of {image}")
        exp_at = expected.index(image)
        problems += _unit_differences("docker option", expected[2:exp_at], observed[2:at])
        problems += _unit_differences("server argument", expected[exp_at + 1:], observed[at + 1:])
    if problems:
        raise CheckFailed("the suite's docker run is not the guide's plus the row's documented changes",
                          " ".join(expected), " ".join(observed), evidence="; ".join(problems))


def serve_flags_follow_guide(model: str, flags: Sequence[str], guide_serve: Sequence[str]) -> None:
    """The model's documented serve flags (matrix.yaml flag sets) are the flags of the guide's
    `vllm serve <its HF id> ...` command, no more, no fewer."""
    problems = _unit_differences("serve flag", _after_model(guide_serve, positional=True), flags)
    if problems:
        raise CheckFailed(f"{model}: matrix.yaml serve flags are not the guide's `vllm serve` command's",
                          " ".join(guide_serve), " ".join(flags), evidence="; ".join(problems))


def benchmark_follows_guide(bench_args: Sequence[str], serve_args: Sequence[str], guide_bench: Sequence[str],
                            guide_serve: Sequence[str]) -> None:
    """The suite's `vllm bench serve` arguments (the GPU profile) are the guide's, and the benchmark
    server adds exactly what the guide's benchmark `vllm serve` adds to the model."""
    problems = _unit_differences("vllm bench serve argument", _after_model(guide_bench), bench_args)
    problems += _unit_differences("benchmark server argument", _after_model(guide_serve, positional=True), serve_args)
    if problems:
        raise CheckFailed("the suite's benchmark protocol is not the guide's",
                          f"{' '.join(guide_bench)}; server: {' '.join(guide_serve)}",
                          f"bench args: {' '.join(bench_args)}; server adds: {' '.join(serve_args)}",
                          evidence="; ".join(problems))


# -- helpers ------------------------------------------------------------------------------------------
def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return float(a) == float(b)


def _shown(value) -> str:
    return UNSET if value is None else repr(value)


def _preset_text(preset: dict) -> str:
    return ", ".join(f"{name} {_shown(preset.get(name))}" for name in SAMPLING)


def _image_index(argv: list[str], image: str) -> int | None:
    """Where the image stands: the first token of the image's repository (e.g. vllm/vllm-openai:*)."""
    repository = image.split(":", 1)[0]
    return next((i for i, t in enumerate(argv) if t == repository or t.startswith(repository + ":")), None)


def _after_model(argv: Sequence[str], positional: bool = False) -> list[str]:
    """The arguments of a `vllm ...` command other than its model (`--model X`, or `vllm serve X`)."""
    args = list(argv)
    if positional:
        return args[3:] if args[:2] == ["vllm", "serve"] else args
    start = next((i for i, t in enumerate(args) if t.startswith("-")), len(args))
    args = args[start:]
    if "--model" in args:
        i = args.index("--model")
        del args[i:i + 2]
    return args


def _units(argv: Sequence[str]) -> Counter:
    """Options with their values, as the shell passes them ("~" expanded at the start of a word)."""
    units, current = [], None
    for token in argv:
        token = os.path.expanduser(token) if token.startswith("~") else token
        if token.startswith("-") or current is None:
            current = [token]
            units.append(current)
        else:
            current.append(_number(token))
    return Counter(tuple(u) for u in units)


def _number(token: str):
    try:
        return float(token)
    except ValueError:
        return token


def _unit_differences(what: str, expected: Sequence[str], observed: Sequence[str]) -> list[str]:
    exp, obs = _units(expected), _units(observed)
    missing, extra = exp - obs, obs - exp
    return ([f"missing {what} {_unit_text(u)}" for u in missing.elements()]
            + [f"undocumented {what} {_unit_text(u)}" for u in extra.elements()])


def _unit_text(unit: tuple) -> str:
    return " ".join(f"{t:g}" if isinstance(t, float) else t for t in unit)
