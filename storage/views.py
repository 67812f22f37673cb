"""The read models' database: view tables and their tracking positions, one transaction.

Read models are written in one portable SQL subset (``%s`` placeholders,
``ON CONFLICT``, integers for times) so each is written once for both backends.
The tracking record comes from the eventsourcing tracking recorders, which
reject a position not greater than the stored one: a batch applied twice
rolls back instead of counting twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from storage.codec import to_micros

__all__ = ["Row", "SqlCursor", "ViewDatabase", "to_micros"]

Dialect = Literal["postgres", "sqlite"]
#: The PostgreSQL advisory lock held while creating tables (see service/bootstrap.py).
SCHEMA_LOCK = 0x63726D74
Row = dict[str, Any]
#: How many ids one ``IN (...)`` list binds: under SQLite's limit on bound parameters,
#: with room for the statement's others.
IN_CHUNK = 500


def select_in(db: SqlCursor, sql: str, ids: Sequence[Any], before: Sequence[Any] = (),
              after: Sequence[Any] = ()) -> list[Row]:
    """The rows of ``sql`` for all of ``ids``, however many: ``sql`` holds ``{ids}`` where
    the ``IN`` list goes and runs once per ``IN_CHUNK`` ids, ``before`` bound ahead of the
    ids and ``after`` behind them. Each chunk's rows come in the statement's order."""
    ids, rows = list(ids), []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        db.execute(sql.replace("{ids}", ", ".join(["%s"] * len(chunk))),
                   [*before, *chunk, *after])
        rows += db.fetchall()
    return rows


#: One row's INSERT: table, column list, placeholders (and literals), and what follows.
_SINGLE_ROW_INSERT = re.compile(
    r"INSERT INTO (\S+) \(([^()]*)\) VALUES \(([^()]*)\)(.*)", re.DOTALL)
#: Column types of tables written with executemany, by qualified table name.
_COLUMN_TYPES: dict[str, dict[str, str]] = {}


class SqlCursor:
    """A cursor that speaks the portable subset on either backend and returns dict rows."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def _sql(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.dialect == "sqlite" else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(self._sql(statement), tuple(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """On PostgreSQL an ``INSERT ... VALUES (...)`` of many rows goes as one statement
        over column arrays (``unnest``), sent in binary (``%b``): one round trip and one parse per
        call instead of one statement per row. Rows of one call must not upsert the same
        key twice (PostgreSQL refuses that in one statement)."""
        if not rows:
            return
        insert = _SINGLE_ROW_INSERT.fullmatch(statement) if self.dialect == "postgres" else None
        if insert is None or len(rows) == 1:
            self.raw.executemany(self._sql(statement), [tuple(row) for row in rows])
            return
        table, columns, values, tail = insert.groups()
        names = [c.strip() for c in columns.split(",")]
        items = [v.strip() for v in values.split(",")]
        types = self._column_types(table)
        arrays = [name for name, item in zip(names, items, strict=True) if item == "%s"]
        picked = iter(range(len(arrays)))
        select = ", ".join(f"u.c{next(picked)}" if item == "%s" else item for item in items)
        self.raw.execute(
            f"INSERT INTO {table} ({columns}) SELECT {select} FROM unnest("
            + ", ".join(f"%b::{types[name]}[]" for name in arrays)
            + f") AS u({', '.join(f'c{i}' for i in range(len(arrays)))}){tail}",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def _column_types(self, table: str) -> dict[str, str]:
        if table not in _COLUMN_TYPES:
            self.raw.execute("SELECT attname, format_type(atttypid, atttypmod) AS type"
                             " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                             [table])
            _COLUMN_TYPES[table] = {row["attname"]: row["type"] for row in self.raw.fetchall()}
        return _COLUMN_TYPES[table]

    def rowcount(self) -> int:
        """Rows the last statement changed."""
        raw = self.raw.sqlite_cursor if self.dialect == "sqlite" else self.raw
        return int(raw.rowcount)

    def fetchall(self) -> list[Row]:
        rows = self.raw.fetchall()
        return rows if self.dialect == "postgres" else [dict(row) for row in rows]  # dict_row

    def fetchone(self) -> Row | None:
        row = self.raw.fetchone()
        return None if row is None else dict(row)


class ViewDatabase:
    """Where read models live: the same database as the customer history."""

    def __init__(self, datastore: PostgresDatastore | SQLiteDatastore) -> None:
        self.datastore = datastore
        self.tracker: TrackingRecorder
        if isinstance(datastore, PostgresDatastore):
            self.dialect: Dialect = "postgres"
            self.tracker = PostgresTrackingRecorder(
                datastore, tracking_table_name="projection_tracking"
            )
        else:
            self.dialect = "sqlite"
            self.tracker = SQLiteTrackingRecorder(datastore)
        self.tracker.create_table()

    def table(self, name: str) -> str:
        """A table's name as SQL, qualified with the configured PostgreSQL schema."""
        if self.dialect == "postgres":
            return f'"{self.datastore.schema}"."{name}"'  # type: ignore[union-attr]
        return f'"{name}"'

    def add_columns(self, name: str, columns: dict[str, str]) -> None:
        """Add the ``columns`` (name: SQL type) table ``name`` lacks: a table made by an
        earlier release gets the columns a later one writes. Only a missing column takes
        the table's lock (``ALTER TABLE`` waits for every reader)."""
        with self.read() as db:
            if self.dialect == "postgres":
                db.execute("SELECT column_name AS name FROM information_schema.columns"
                           " WHERE table_schema = %s AND table_name = %s",
                           [self.datastore.schema, name])  # type: ignore[union-attr]
            else:
                db.execute(f"PRAGMA table_info({self.table(name)})")
            present = {row["name"] for row in db.fetchall()}
        if_not = " IF NOT EXISTS" if self.dialect == "postgres" else ""  # racing processes
        self.create_tables([f"ALTER TABLE {self.table(name)} ADD COLUMN{if_not} {column} {kind}"
                            for column, kind in columns.items() if column not in present])

    def add_indexes(self, name: str, indexes: dict[str, str]) -> None:
        """Create the ``indexes`` (index name: column list) of table ``name`` that are
        missing. Looked for first: ``CREATE INDEX IF NOT EXISTS`` locks the table before it
        looks, and a process starting beside running projectors must not wait on them
        (or deadlock with one) for an index that is there."""
        with self.read() as db:
            if self.dialect == "postgres":
                db.execute("SELECT indexname AS name FROM pg_indexes"
                           " WHERE schemaname = %s AND tablename = %s",
                           [self.datastore.schema, name])  # type: ignore[union-attr]
            else:
                db.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                           " AND tbl_name = %s", [name])
            present = {row["name"] for row in db.fetchall()}
        # an index lives in its table's schema: its own name is not qualified
        self.create_tables([f'CREATE INDEX IF NOT EXISTS "{index}" ON {self.table(name)} ({columns})'
                            for index, columns in indexes.items() if index not in present])

    def create_tables(self, statements: Sequence[str]) -> None:
        with self._raw_transaction(commit=True) as cursor:
            if self.dialect == "postgres":  # CREATE ... IF NOT EXISTS races between processes
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK])
            for statement in statements:
                cursor.execute(statement)

    @contextmanager
    def write(self, *trackings: Tracking) -> Iterator[SqlCursor]:
        """A write transaction; the positions of ``trackings`` are recorded in it too."""
        with self._raw_transaction(commit=True) as cursor:  # SQLite: begun with its lock
            yield cursor
            for tracking in trackings:
                self.tracker._insert_tracking(cursor.raw, tracking)  # noqa: SLF001

    @contextmanager
    def read(self) -> Iterator[SqlCursor]:
        """Reads. On PostgreSQL without BEGIN and ROLLBACK (two round trips of three for a
        one-query read): each statement sees its own snapshot, so a read of several
        statements may see a commit land between them."""
        if self.dialect == "sqlite":
            with self._raw_transaction(commit=False) as cursor:
                yield cursor
            return
        with self.datastore.get_connection() as connection:  # autocommit, from the pool
            yield SqlCursor(connection.cursor(), self.dialect)

    def position(self, name: str) -> int | None:
        """The last position the named read model has applied, None before the first."""
        return self.tracker.max_tracking_id(name)

    @contextmanager
    def _raw_transaction(self, *, commit: bool) -> Iterator[SqlCursor]:
        with self.datastore.transaction(commit=commit) as raw:
            yield SqlCursor(raw, self.dialect)
