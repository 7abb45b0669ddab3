"""Local data for the bundled lm-eval tasks (referenced from their YAML with `!function`): the
JSONL beside the YAML, and the images the VL items name. Nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def dataset(data_file: str, **_metadata):
    """lm-eval `custom_dataset`: the task's JSONL (path relative to this folder) as a test split."""
    import datasets

    return datasets.load_dataset("json", data_files={"test": str(HERE / data_file)})


def image(doc: dict) -> list:
    """lm-eval `doc_to_image`: the item's image, drawn from its spec in fixtures/probes.yaml."""
    from lfm_conformance.data import images, probes

    return [images.draw(probes.image_spec(doc["image"]))]
