"""The ``--json`` record every benchmark writes: which bench, on what, then its figures."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def write_results(path: str | Path, bench: str, figures: dict[str, Any]) -> None:
    """Write ``figures`` to ``path`` as JSON, after the bench's name and the machine it ran on."""
    payload = {
        "bench": bench,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **figures,
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
