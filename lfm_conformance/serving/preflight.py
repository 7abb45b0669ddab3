"""Checks before any server starts, each failing with one line that names the option and the problem."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class PreflightError(Exception):
    """Bad run setup; the message is one line naming the option, the value and the problem."""


def writable_reports_dir(path: Path) -> None:
    """Create the reports directory and prove a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise PreflightError(f"--reports {path}: cannot write reports there: "
                             f"{exc.strerror or exc} ({exc.filename or path})") from None


def api_key_from_env(name: str | None) -> str | None:
    """The API key held by the environment variable `name` (--api-key-env): never the key itself on
    a command line, where `ps` and CI logs would show it."""
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise PreflightError(f"--api-key-env {name}: the environment variable {name} is not set or empty; "
                             f"set it to the API key the servers should require")
    return value
