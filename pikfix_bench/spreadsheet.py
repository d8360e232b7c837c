"""CSV meant for spreadsheets: text cells that a spreadsheet would run as a formula are quoted.

Model names, labels and file names come from other people's runs and folders. A cell starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice and Google Sheets
(CSV injection, OWASP); such a *text* cell is written with a leading ``'``, which spreadsheets show as
text and hide. Numbers are left alone (``-0.5`` stays a number). Machine files that the toolkit reads
back (``per_image.csv``, ``log.csv``) are data, not tables for people, and are not changed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> Any:
    """``value`` itself, or ``"'" + value`` for a string a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`text_cell` applied to its text columns."""
    quoted = frame.copy()
    for column in quoted.select_dtypes(include=["object", "string"]).columns:
        quoted[column] = quoted[column].map(text_cell)
    return quoted
