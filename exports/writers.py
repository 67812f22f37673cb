"""Writing rows to a file in one of the export formats, batch by batch.

Columns are declared with a kind (``string``, ``int``, ``float``, ``bool``,
``timestamp``, ``json``); the Parquet file is typed accordingly (timestamps in UTC
microseconds, ``json`` as text DuckDB's ``json`` functions read), and each batch is
one row group, so memory stays at one batch whatever the size of the export.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from exports.cells import csv_cell

FORMATS = ("parquet", "ndjson", "csv")
Column = tuple[str, str]  # (name, kind)

_ARROW = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
          "timestamp": pa.timestamp("us", tz="UTC"), "json": pa.string()}


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def _cell(kind: str, value: Any) -> Any:
    """A value as its column kind holds it in Parquet."""
    if value is None:
        return None
    if kind == "json":
        return _json(value)
    if kind == "float" and isinstance(value, str | Decimal):
        return float(value)
    return value


class Writer:
    """Rows of ``columns`` to ``path`` in ``format`` (``path`` None: standard output,
    for the text formats)."""

    def __init__(self, path: Path | None, format: str, columns: Sequence[Column],
                 stdout: IO[str] | None = None) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
        if path is None and format == "parquet":
            raise ValueError("a Parquet export needs a file (--out): it is not a stream of lines")
        self.format, self.columns, self.rows = format, list(columns), 0
        self._parquet: pq.ParquetWriter | None = None
        self._text: IO[str] | None = None
        if format == "parquet":
            assert path is not None
            schema = pa.schema([(name, _ARROW[kind]) for name, kind in self.columns])
            self._parquet = pq.ParquetWriter(path, schema, compression="zstd")
            self._schema = schema
        else:
            self._text = stdout if path is None else open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._owns_text = path is not None
            if format == "csv":
                self._csv = csv.writer(self._text)
                self._csv.writerow([name for name, _ in self.columns])

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        self.rows += len(rows)
        if self._parquet is not None:
            arrays = {name: [_cell(kind, row.get(name)) for row in rows] for name, kind in self.columns}
            self._parquet.write_table(pa.Table.from_pydict(arrays, schema=self._schema))
        elif self.format == "ndjson":
            assert self._text is not None
            self._text.write("".join(
                orjson.dumps({name: row.get(name) for name, _ in self.columns},
                             default=_plain).decode() + "\n" for row in rows))
        else:
            self._csv.writerows([[_csv_cell(row.get(name)) for name, _ in self.columns]
                                 for row in rows])

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self._text is not None and self._owns_text:
            self._text.close()
        elif self._text is not None:
            self._text.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not exported")


def _csv_cell(value: Any) -> Any:
    """A CSV cell: objects as JSON, times in ISO 8601; text a spreadsheet would run as a
    formula behind a ``'`` (as the report CSV does)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return csv_cell(value)
