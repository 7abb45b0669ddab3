"""Remote mode: the suites against an already-running vLLM endpoint (a docker container, a Modal
deployment) instead of servers they start. RemoteEndpoint offers the interface the suites use from
VllmServer; what needs control of the server (its flags, its command line, its log) is NOT RUN, with
the reason: the suite could not check it there, which is not the guide exempting it."""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest

from lfm_conformance.data.matrix import ServeConfig
from lfm_conformance.serving.endpoint import OpenAIEndpoint

NEEDS_CONTROL = "not run: needs control of the server (remote mode)"


class RemoteError(Exception):
    """The endpoint is unreachable or is not a vLLM OpenAI server; one line."""


def normalize(base_url: str) -> str:
    """The server root: http://host:port, without a trailing / or /v1."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class RemoteEndpoint(OpenAIEndpoint):
    def __init__(self, base_url: str, config: ServeConfig, model_path: str, api_key: str | None = None):
        self.root = normalize(base_url)
        self.config = config
        self.model_path = model_path  # the HF id the endpoint is told to serve (for the reference model)
        self.api_key = api_key
        self.vllm_version: str | None = None
        self.served_name = model_path  # the name requests use; set by probe()

    def is_loopback(self) -> bool:
        """The endpoint runs on this machine (so it can reach servers the suites start on 127.0.0.1)."""
        host = urllib.parse.urlsplit(self.root).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    # -- the VllmServer interface the suites use --------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"{self.root}{path}"

    @property
    def host(self) -> str:
        """Where raw-HTTP checks connect (they speak plain HTTP: an https endpoint is NOT RUN there)."""
        parts = urllib.parse.urlsplit(self.root)
        if parts.scheme != "http":
            pytest.skip(f"{NEEDS_CONTROL}: the raw-HTTP check speaks plain http, the endpoint is {parts.scheme}")
        return parts.hostname or ""

    @property
    def port(self) -> int:
        parts = urllib.parse.urlsplit(self.root)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def command(self) -> list[str]:
        """A check of the server's command line cannot run against an endpoint it did not start."""
        pytest.skip(f"{NEEDS_CONTROL}: the check reads the server command line")

    def alive(self) -> bool:
        try:
            req = urllib.request.Request(self.url("/health"))
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_text(self) -> str:
        """A check that reads the server log cannot run against an endpoint it did not start."""
        pytest.skip(f"{NEEDS_CONTROL}: the check reads the server log")

    def log_tail(self, lines: int = 0) -> str:
        return f"--- no server log: remote endpoint {self.root} (remote mode) ---"

    def record(self) -> dict:
        return {"config": self.config.name, "remote": self.root, "vllm": self.vllm_version}

    # -- start-up probe ---------------------------------------------------------------------------
    def probe(self, served_name: str) -> None:
        """Check once, at start, that the URL is a healthy vLLM serving `served_name`; RemoteError
        with one line otherwise. Records the endpoint's vLLM version (GET /version)."""
        where = f"--base-url {self.root}"
        self.served_name = served_name
        try:
            req = urllib.request.Request(self.url("/health"))
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status != 200:
                    raise RemoteError(f"{where}: GET /health returned HTTP {resp.status}, not 200")
        except urllib.error.HTTPError as exc:
            raise RemoteError(f"{where}: GET /health returned HTTP {exc.code}; not a healthy vLLM server") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"{where}: unreachable (GET /health: {reason})") from None
        try:
            models = self.get_json("/v1/models")
            ids = [m["id"] for m in models["data"]]
        except urllib.error.HTTPError as exc:
            hint = " (set --api-key-env)" if exc.code == 401 and not self.api_key else ""
            raise RemoteError(f"{where}: GET /v1/models returned HTTP {exc.code}{hint}; not a vLLM OpenAI server") from None
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            raise RemoteError(f"{where}: GET /v1/models gave no model list ({type(exc).__name__}); "
                              f"not a vLLM OpenAI server") from None
        if served_name not in ids:
            raise RemoteError(f"{where}: serves {', '.join(ids) or 'no model'}, not {served_name!r}; "
                              f"pass --served-model-name NAME for an alias")
        try:
            self.vllm_version = str(self.get_json("/version")["version"])
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            self.vllm_version = None
