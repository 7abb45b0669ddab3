"""What the suites use of an OpenAI-compatible endpoint, whoever runs it: its URLs, an openai SDK
client and authenticated GETs. VllmServer (servers the suite starts) and RemoteEndpoint (remote
mode) say where it is (`url`) and which key it wants (`api_key`)."""
from __future__ import annotations

import json
import urllib.request


class OpenAIEndpoint:
    api_key: str | None = None

    def url(self, path: str = "") -> str:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self.url("/v1")

    def client(self, **kwargs):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "EMPTY", max_retries=0,
                             timeout=kwargs.pop("timeout", 120), **kwargs)

    def get_json(self, path: str, timeout: float = 30) -> dict:
        req = urllib.request.Request(self.url(path))
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
