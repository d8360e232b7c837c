"""JSON records from outside checked against a JSON Schema at the door, with one message naming the field.

A manifest, a ``run.json`` or a bundle index was written by someone else: its shape is stated once,
as a JSON Schema beside the code that reads it, and checked by :mod:`jsonschema` before any field is
used, so a record that does not fit gives one :class:`~pikfix_bench.errors.PikfixError` naming the
file and the field (``manifest.json: samples[3].id: 5 is not of type 'string'``), not a
``KeyError`` deep inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from pikfix_bench.errors import PikfixError
from pikfix_bench.safe_paths import read_regular

SHA256_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def field_path(parts: Any) -> str:
    """``samples[3].id`` for the path ``["samples", 3, "id"]`` (``(top)`` for the record itself)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def check_schema(record: Any, schema: dict[str, Any], source: str | Path) -> None:
    """Raise :class:`PikfixError` naming ``source`` and the first field that does not fit ``schema``.

    Parameters
    ----------
    record : object
        The parsed JSON.
    schema : dict
        A JSON Schema (draft 2020-12).
    source : str or Path
        The file the record came from, for the message.
    """
    error = best_match(Draft202012Validator(schema).iter_errors(record))
    if error is not None:
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        raise PikfixError(f"{source}: {field_path(error.absolute_path)}: {message}")


MAX_RECORD_BYTES = 64 << 20  # far above any record of this toolkit; /dev/zero is endless


def read_json_record(path: str | Path, schema: dict[str, Any], max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """Read a JSON file and check it against ``schema``; any problem is one :class:`PikfixError`.

    The file must be a regular file of at most ``max_bytes``, not a link
    (:func:`~pikfix_bench.safe_paths.read_regular`): a FIFO would block the read, and a device such as
    ``/dev/zero`` never ends.

    Parameters
    ----------
    path : str or Path
        The file.
    schema : dict
        A JSON Schema (draft 2020-12).
    max_bytes : int
        The largest file read (default 64 MiB).

    Returns
    -------
    object
        The parsed record.
    """
    path = Path(path)
    try:
        data = read_regular(path, max_bytes, "record")
        record = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise PikfixError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PikfixError(f"{path}: not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and integers of over 4300 digits
        raise PikfixError(f"{path}: not valid JSON ({exc})") from None
    check_schema(record, schema, path)
    return record
