"""The ``run.json`` record: its JSON Schema and its reader.

``evaluate`` writes ``run.json`` at the start of a run and again when it finishes; tables, reports,
``compare`` and ``--resume`` read it back, perhaps from someone else's disk. The schema states every
field a reader uses, with its type, so that a truncated, hand-edited or foreign record is one
:class:`~pikfix_bench.errors.PikfixError` naming the file and the field, never a ``KeyError`` in a
table. Other fields are allowed: newer writers may add some, and readers ignore what they do not use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pikfix_bench.schema import SHA256_HEX, read_json_record

_TEXT = {"type": "string"}
_NAME = {"type": "string", "minLength": 1}

RUN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "run.json",
    "type": "object",
    "required": ["model", "dataset", "profile"],
    "properties": {
        "model": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _NAME},
        },
        "dataset": {
            "type": "object",
            "required": ["name", "version", "kind", "content_hash", "samples"],
            "properties": {
                "name": _NAME,
                "version": _TEXT,
                "kind": _TEXT,
                "content_hash": SHA256_HEX,
                "samples": {"type": "integer", "minimum": 0},
            },
        },
        # the metric profile's name picks its column; the rest of it, whatever it holds, is hashed
        "profile": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
        "dataset_path": _TEXT,
        "align": _TEXT,
        "started": _TEXT,
        "finished": _TEXT,  # sorted to pick the newest run: of one type in every record
        "resumed": {"type": "array", "items": _TEXT},
        "environment": {"type": "object"},
        "execution": {"type": "object"},
    },
}


def read_run_record(path: str | Path) -> dict[str, Any]:
    """Read a ``run.json`` and check it against :data:`RUN_SCHEMA`.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        The record.

    Raises
    ------
    PikfixError
        When the file cannot be read, is not JSON, or does not fit the schema (the message names the
        file and the field).
    """
    return read_json_record(path, RUN_SCHEMA)
