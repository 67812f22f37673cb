"""What a report is, and how reports are stored, generation by generation.

A report module declares a :class:`Report`: its name, the event types it reads
and how one fact changes its rows (``fold``). Rows are JSON documents keyed by
a row key; a report may also keep private *memory* (for example each
customer's registration month) keyed the same way. Storage, batching, tracking
and generations are the same for every report, so a report is only its rules.
Reports count and sum: their facts arrive with personal fields null, so no
report row or memory can hold personal data an erasure would have to find. A
report that must tell a present field from a missing one (``incomplete_records``)
sets ``reads_personal_data`` and stores only that it was there.

Each build of a report is a *generation* with its own tables and tracking
name (``projections.generation.Generation``). A replay builds a new generation
while the live one keeps following; the swap makes the new one live for
readers in one transaction (``projections/replay.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from domain.customer360 import Policies
from domain.facts import CustomerFact, stored_topic
from projections.generation import Generation
from projections.runner import Positioned
from projections.shards import EVERY_CUSTOMER
from storage.views import SqlCursor, ViewDatabase, select_in

Doc = dict[str, Any]
#: Rows and memory as JSON with sorted keys, as ``json.dumps(sort_keys=True)`` wrote them
#: (numbers as keys become strings); orjson, as every batch reads and writes them all.
_DOC_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class ReportRows:
    """The rows and memory a batch touches, loaded up front in two queries (every row: a
    report's rows are few aggregates; the memory its facts name, ``Report.memory_keys``),
    the rest on first use, and written back once."""

    def __init__(self, db: SqlCursor, rows_table: str, memory_table: str,
                 rows: dict[str, Doc] | None = None) -> None:
        """``rows``: every row as the table holds them, when the caller knows (then not read)."""
        self._db = db
        self._tables = {"rows": rows_table, "memory": memory_table}
        self._cache: dict[tuple[str, str], Doc | None] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._rows_loaded = rows is not None
        if rows is not None:
            self._cache.update({("rows", key): doc for key, doc in rows.items()})

    def _get(self, kind: str, key: str) -> Doc | None:
        if (kind, key) not in self._cache and not (kind == "rows" and self._rows_loaded):
            self._db.execute(f"SELECT doc FROM {self._tables[kind]} WHERE row_key = %s", [key])
            row = self._db.fetchone()
            self._cache[(kind, key)] = orjson.loads(row["doc"]) if row else None
        return self._cache.get((kind, key))

    def load(self, memory_keys: set[str]) -> None:
        """Fetch every row (unless given), and the memory under ``memory_keys`` (absent ones
        as None)."""
        if not self._rows_loaded:
            self._db.execute(f"SELECT row_key, doc FROM {self._tables['rows']}")
            self._cache.update({("rows", row["row_key"]): orjson.loads(row["doc"])
                                for row in self._db.fetchall()})
            self._rows_loaded = True
        keys = sorted(memory_keys)
        self._cache.update(dict.fromkeys((("memory", k) for k in keys), None))
        self._cache.update({("memory", row["row_key"]): orjson.loads(row["doc"])
                            for row in select_in(self._db, "SELECT row_key, doc FROM"
                                                 f" {self._tables['memory']} WHERE row_key IN"
                                                 " ({ids})", keys)})

    def row(self, key: str, **initial: Any) -> Doc:
        """The row with this key, created from ``initial`` if new; change it in place."""
        doc = self._get("rows", key)
        if doc is None:
            doc = dict(initial)
            self._cache[("rows", key)] = doc
        self._dirty.add(("rows", key))
        return doc

    def recall(self, key: str) -> Doc | None:
        return self._get("memory", key)

    def remember(self, key: str, doc: Doc) -> None:
        self._cache[("memory", key)] = doc
        self._dirty.add(("memory", key))

    def rows(self) -> dict[str, Doc]:
        """Every row, as written by ``flush`` (after ``load``)."""
        return {key: doc for (kind, key), doc in self._cache.items()
                if kind == "rows" and doc is not None}

    def flush(self) -> None:
        for kind in ("rows", "memory"):
            changed = [(k, orjson.dumps(self._cache[(kind, k)], option=_DOC_OPTIONS).decode())
                       for (dk, k) in sorted(self._dirty) if dk == kind]
            self._db.executemany(
                f"INSERT INTO {self._tables[kind]} (row_key, doc) VALUES (%s, %s)"
                " ON CONFLICT (row_key) DO UPDATE SET doc = excluded.doc",
                changed,
            )
        self._dirty.clear()


class Report(ABC):
    """A report: a name, the facts it reads, and how each fact changes its rows.

    Constructed with the deployment's policies (SLA targets, for example).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    reads: ClassVar[frozenset[str]]  # wire types, e.g. {"crm.order.placed"}
    columns: ClassVar[tuple[str, ...]]  # the order of columns in JSON and CSV output
    amounts: ClassVar[frozenset[str]] = frozenset()  # columns of decimal strings that add up
    #: True: facts arrive with personal fields unsealed, to see which are present; rows
    #: and memory still hold none of their values.
    reads_personal_data: ClassVar[bool] = False
    #: The column of rows holding their month ("YYYY-MM"), by which ``since``/``until`` pick
    #: rows; None: a report not by time, which takes no time range.
    period: ClassVar[str | None] = None
    #: True: counts each merge group once (``per_customer.CustomerReport``).
    per_group: ClassVar[bool] = False

    @abstractmethod
    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        """Apply one fact (only types in ``reads`` arrive), in store order."""

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        """The memory ``fold`` recalls for this fact, fetched for a whole batch at once
        (one query, not one per key). Keys not named here are fetched on first use."""
        return ()

    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    def finish(self, rows: list[Doc]) -> list[Doc]:
        """Stored rows as readers see them (derived columns such as shares); default as is."""
        return rows

    def combine(self, partials: list[Doc]) -> Doc:
        """One row from projector shards' rows of one key (each counted its own customers):
        numbers add up, as do the decimal strings named in ``amounts``; nested objects
        combine key by key; other values are the row's key columns, equal in every shard.
        A report with other kinds of column overrides this."""
        combined = dict(partials[0])
        for partial in partials[1:]:
            for key, value in partial.items():
                if key in self.amounts and key in combined:
                    combined[key] = str(Decimal(combined[key]) + Decimal(value))
                else:
                    combined[key] = _add(combined.get(key), value)
        return combined


class ReportProjection:
    """Runs a report as a read model: one generation's tables and tracking name.

    With projector shards each shard folds its own customers into rows of its own
    (partials); readers combine the shards' rows of each key (``Report.combine``)."""

    def __init__(self, report: Report, views: ViewDatabase, generation: Generation) -> None:
        self.report = report
        self.generation = generation.number
        self.name = generation.tracking_name
        self.customers = generation.shard
        # A report that counts merge groups (``per_customer``) is built by the first shard
        # alone, from every customer: a group's ids may lie in different shards.
        self._idle = report.per_group and generation.shard.index != 0
        if report.per_group and not self._idle:
            self.customers = EVERY_CUSTOMER
        self.topics = tuple(sorted(stored_topic(t) for t in report.reads))
        self.reads_personal_data = report.reads_personal_data
        self._tables = {
            g.shard: (views.table(g.shard_table(f"report_{report.name}")),
                      views.table(g.shard_table(f"report_{report.name}_memory")))
            for g in generation.siblings()
        }
        self.rows_table, self.memory_table = self._tables[generation.shard]
        self._written: dict[str, Doc] | None = None  # the rows as the last apply left them
        self._committed: dict[str, Doc] | None = None  # ... once its transaction committed

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {table} (row_key TEXT PRIMARY KEY, doc TEXT NOT NULL)"
            for tables in self._tables.values() for table in tables
        ])

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        if self._idle:
            return
        facts = [item.fact for item in batch if item.fact.event_type in self.report.reads]
        rows = ReportRows(cursor, self.rows_table, self.memory_table, self._committed)
        self._committed = self._written = None  # known again only once this batch commits
        rows.load({key for fact in facts for key in self.report.memory_keys(fact)})
        for fact in facts:
            self.report.fold(rows, fact)
        rows.flush()
        self._written = rows.rows()

    def committed(self) -> None:
        """The projector committed the last ``apply``: its rows are the table's, so the next
        batch need not read them all again. A batch rolled back never comes here; the
        next one reads the table."""
        self._committed, self._written = self._written, None

    def read(self, db: SqlCursor, since: str | None = None, until: str | None = None) -> list[Doc]:
        """Every row, the shards' partials of each key combined, in row key order; with
        ``since``/``until`` (months "YYYY-MM", inclusive) only rows whose ``period`` lies
        between them (a report without one raises ``ValueError``)."""
        period = self.report.period
        if (since or until) and period is None:
            raise ValueError(f"report {self.report.name!r} is not by month: it takes no "
                             "since/until")
        partials: dict[str, list[Doc]] = {}
        for rows_table, _ in self._tables.values():
            db.execute(f"SELECT row_key, doc FROM {rows_table}")
            for row in db.fetchall():
                partials.setdefault(row["row_key"], []).append(orjson.loads(row["doc"]))
        rows = [docs[0] if len(docs) == 1 else self.report.combine(docs)
                for _, docs in sorted(partials.items())]
        if since or until:
            rows = [row for row in rows if row[period] is not None
                    and (since or "") <= row[period] <= (until or "9999-12")]
        return self.report.finish(rows)

    def drop_tables(self, db: SqlCursor) -> None:
        for table in (table for tables in self._tables.values() for table in tables):
            db.execute(f"DROP TABLE IF EXISTS {table}")


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dict) and isinstance(b, dict):
        return {key: _add(a.get(key), b.get(key)) for key in {**a, **b}}
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a + b
    if a == b:
        return a
    raise ValueError(f"shard partials {a!r} and {b!r} cannot be combined: the report needs "
                     "a combine() of its own")


def instant(fact: CustomerFact) -> str:
    """When the fact happened as ISO text in UTC, which sorts as the times do (text with
    other offsets would not), for a report's memory."""
    return fact.occurred_at.astimezone(UTC).isoformat()


def month_of(fact: CustomerFact) -> str:
    return fact.occurred_at.strftime("%Y-%m")


def shares(count: int, of: int) -> float | None:
    return round(count / of, 4) if of else None


