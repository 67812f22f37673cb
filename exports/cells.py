"""Cells of the CSV files the service writes (report downloads, exports)."""

from __future__ import annotations

import json
import re
from typing import Any

#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Decimal strings (amounts) are numbers to a spreadsheet, not formulas: they stay as they are.
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell no spreadsheet runs: objects as JSON, and text that a
    spreadsheet would take for a formula (``=HYPERLINK(...)``, ``@SUM(...)``, ``-1+1``)
    behind a ``'``, which makes it text. Numbers, and strings that are only a number,
    stay as they are."""
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
