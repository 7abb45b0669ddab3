"""Test images drawn from a small spec (fixtures/probes.yaml `images`), as PIL images or data URLs."""
from __future__ import annotations

import base64
import io


def draw(spec: dict, size: int | None = None):
    from PIL import Image, ImageDraw

    size = size or spec.get("size", 64)
    color = tuple(spec["color"])
    if spec["shape"] == "square":
        return Image.new("RGB", (size, size), color)
    img = Image.new("RGB", (size, size), (255, 255, 255))
    margin = size // 8
    ImageDraw.Draw(img).ellipse([margin, margin, size - margin, size - margin], fill=color)
    return img


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def data_url(spec: dict, size: int | None = None) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(draw(spec, size))).decode()
