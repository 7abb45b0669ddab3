"""Where the suite keeps what outlives a run: `$LFMC_HOME` (default ~/.cache/lfm-conformance; empty
counts as unset, as in scripts/bootstrap.sh): the environments, fixtures, kept servers and history."""
from __future__ import annotations

import os
from pathlib import Path


def lfmc_home() -> Path:
    return Path(os.environ.get("LFMC_HOME") or Path.home() / ".cache" / "lfm-conformance")
