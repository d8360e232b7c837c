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
            "properties": {
                "name": _NAME,
                # effective values (older versions: the options as typed, and no "defaults")
                "options": {"type": "object"},
                "defaults": {"type": "object"},
                "given": {"type": "object"},
                "weights_sha256": {"anyOf": [SHA256_HEX, {"type": "null"}]},
                "files_sha256": {"type": "object", "additionalProperties": SHA256_HEX},
            },
        },
        "label": {**_NAME, "pattern": "^[^\\x00-\\x1f\\x7f]+$"},  # one line: a row name in every table
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
        "metrics": {"type": "array", "items": _NAME},
        # written by `rescore` (docs/leaderboard.md): the bundle it re-derived the numbers from, and whether
        # they agreed; a row is verified only when `agrees` is true
        "rescored_from": {
            "type": "object",
            "required": ["sha256", "agrees"],
            "properties": {"sha256": SHA256_HEX, "agrees": {"type": "boolean"}},
        },
    },
}


def model_setup(model: dict[str, Any]) -> dict[str, Any]:
    """What a ``run.json`` model record says the results depend on, in a form two records compare by.

    The model's name, every option's effective value and the sha256 of every weights file; how the
    options were typed does not count (``samples=200`` is the default). A record of an older version
    (no ``defaults``: its ``options`` are the ones typed) compares by name, typed options and weights
    hash, so its re-runs are still recognised as one setup.

    Parameters
    ----------
    model : dict
        ``run.json``'s ``model`` (checked by :data:`RUN_SCHEMA`), or ``ModelAdapter.describe()``.

    Returns
    -------
    dict
        The setup.
    """
    if "defaults" in model:
        return {"name": model["name"], "options": model["options"], "files": model.get("files_sha256", {})}
    return typed_setup(model)


def typed_setup(model: dict[str, Any]) -> dict[str, Any]:
    """A model record's setup as older versions recorded it: name, options as typed, ``weights=`` hash."""
    typed = model["given"] if "given" in model else model.get("options") or {}
    return {"name": model["name"], "typed": typed, "weights": model.get("weights_sha256")}


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
