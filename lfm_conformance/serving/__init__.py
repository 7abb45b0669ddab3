"""Servers and endpoints: one object owns a vLLM server's whole life (`server`), one server per
configuration per run (`pool`), a separately started endpoint (`remote`), the shared OpenAI
client surface (`endpoint`), GPU detection and plans (`gpu`, `docker`, `fleet`), checks before
any start (`preflight`) and secrets kept out of logs (`redact`).
May import `data` only: no checks, no report code."""
