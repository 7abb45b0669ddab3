"""VL image input: every model whose matrix row has vision, served with the guide's
--limit-mm-per-prompt '{"image": 4}'. Guide: "The VL models accept image + text turns through the
standard chat API"; "Allow more than one image per request with --limit-mm-per-prompt"."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lfm_conformance.checks import vision
from lfm_conformance.data import probes
from lfm_conformance.harness.outcomes import measured

pytestmark = pytest.mark.requires("vision")
BOUND = 64  # bounds a derailed reply; taught replies end far earlier
MEASURE_UP_TO = 6  # image counts tried when measuring the limit without the flag
CORRUPT_URLS = {
    "non-image-bytes": "data:image/png;base64," + base64.b64encode(b"this is not an image " * 8).decode(),
    "invalid-base64": "data:image/png;base64,!!not*base64%%",
}


def _image_part(probe_id: str) -> dict:
    """The image_url part of a probe (a PNG data URL)."""
    message = probes.chat(probe_id)["messages"][0]
    return next(p for p in message["content"] if p["type"] == "image_url")


def _png_of(probe_id: str) -> bytes:
    return base64.b64decode(_image_part(probe_id)["image_url"]["url"].split(",", 1)[1])


@pytest.fixture(scope="module")
def image_host():
    """A tiny HTTP server on 127.0.0.1 serving the probe images as /<probe_id>.png."""
    pngs = {f"/{pid}.png": _png_of(pid) for pid in ("image_red", "image_blue")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pngs.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _chat(server, model, **request):
    return server.client().chat.completions.create(
        model=model.hf_id, **request, **probes.sampling(model.preset, max_tokens=BOUND)).model_dump()


def _post_chat(server, model, content: list) -> tuple[int, object]:
    """Raw POST /v1/chat/completions (status and body as sent), preset top level as the guide says."""
    payload = {"model": model.hf_id, "messages": [{"role": "user", "content": content}],
               **model.preset, "max_tokens": BOUND}
    response = httpx.post(server.url("/v1/chat/completions"), json=payload, timeout=300)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _images(count: int) -> list:
    """count image parts (red square, blue circle, alternating) and one question."""
    parts = [_image_part("image_red" if i % 2 == 0 else "image_blue") for i in range(count)]
    return parts + [{"type": "text", "text": "What is in these images?"}]


def _health(server) -> int:
    return httpx.get(server.url("/health"), timeout=30).status_code


def _documented_limit(model) -> int:
    limit = vision.image_limit(model.serve_flags)
    if limit is None:
        pytest.skip(f"not applicable: {model.name} is served without {vision.LIMIT_FLAG}")
    return limit


@pytest.mark.parametrize("probe_id", ["image_red", "image_blue"])
def test_image_data_url_answered(model, server, probe_id):
    vision.image_reply_ok(_chat(server, model, **probes.chat(probe_id)))


def test_image_http_url_answered(model, server, image_host):
    messages = probes.chat("image_red")["messages"]
    for part in messages[0]["content"]:
        if part["type"] == "image_url":
            part["image_url"]["url"] = f"{image_host}/image_red.png"
    vision.image_reply_ok(_chat(server, model, messages=messages))


def test_image_after_text_answered(model, server):
    vision.image_reply_ok(_chat(server, model, **probes.chat("image_red_text_first")))


def test_documented_image_limit_accepted(model, server):
    limit = _documented_limit(model)
    vision.accepted(*_post_chat(server, model, _images(limit)))


def test_over_image_limit_rejected_naming_limit(model, server):
    limit = _documented_limit(model)
    status, body = _post_chat(server, model, _images(limit + 1))
    vision.rejected_with_limit(status, body, limit)
    vision.server_healthy(_health(server), f"{limit + 1} images")


@pytest.mark.serve_config(drop_flag_sets=("multi_image",))
def test_image_limit_without_flag_measured(model, serve_config, server, request, record_testsuite_property):
    """Served without --limit-mm-per-prompt: 1..6 images are each answered or refused with a 4xx
    naming a limit (never a 5xx); the largest accepted count is reported."""
    assert vision.image_limit(serve_config.args) is None, f"{serve_config.name} still sets {vision.LIMIT_FLAG}"
    outcomes = {}
    for count in range(1, MEASURE_UP_TO + 1):
        status, body = _post_chat(server, model, _images(count))
        outcomes[count] = status
        vision.limit_probe_ok(status, body)
        if status != 200:
            vision.server_healthy(_health(server), f"{count} images")
    largest = vision.largest_accepted(outcomes)
    request.node.user_properties += [("image_limit_without_flag", largest),
                                     ("image_count_status", json.dumps(outcomes))]
    record_testsuite_property(f"image_limit_without_flag[{model.name}]", largest)  # junit
    measured(request.node)  # the count is a figure: no limit is documented without the flag
    print(f"{model.name} without {vision.LIMIT_FLAG}: largest accepted image count {largest} "
          f"(tried 1..{MEASURE_UP_TO}; HTTP status per count {outcomes})")


@pytest.mark.serve_config(drop_flag_sets=("multi_image",))
def test_without_flag_a_second_image_is_refused(model, server):
    """The guide: "Allow more than one image per request with --limit-mm-per-prompt" — so without
    the flag, two images are refused naming a limit of one."""
    status, body = _post_chat(server, model, _images(2))
    vision.rejected_with_limit(status, body, 1)


@pytest.mark.parametrize("url", list(CORRUPT_URLS.values()), ids=list(CORRUPT_URLS))
def test_corrupt_image_rejected_with_4xx(model, server, url):
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What is in this image?"}]
    status, body = _post_chat(server, model, content)
    vision.rejected_client_error(status, body)
    vision.server_healthy(_health(server), "a corrupt image")
