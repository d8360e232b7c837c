"""Atomic JSON writing (strict JSON: no NaN or Infinity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pikfix_bench.image_io import atomic_write


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically (temporary file, then rename)."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())
