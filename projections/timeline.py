"""The timeline read model: every fact of a customer, ordered by when it happened.

Rows are keyed by (customer, event time, store position), so a late or
out-of-order event lands in its place and ties in time keep recording order.
Pages are cut by keyset cursors over that key: a page boundary never moves
when new events arrive, unlike an offset.

Rows also keep when the service recorded each fact, so a page can be cut as it was
known at a moment (``known_at``): what a colleague saw then.

Rows keep the CloudEvent's extension attributes (``traceparent``, a partner's
own) as sent, beside the data: a trace can be followed from the sender's span to
the entry. They are not personal data by contract (README) and erasure leaves them.

Rows copy each fact's data and summary as read, so an erasure request also
blanks the personal fields of the customer's earlier rows; facts read after
the erasure arrive blank already (their key is gone).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.personal_data import ERASURE_REQUESTED, blank
from projections.alerts import AlertBook
from projections.generation import Generation
from projections.paging import InvalidCursor
from projections.runner import Positioned
from projections.summaries import summarize
from projections.timeline_links import (
    link_entries,
    placed_currencies,
    refund_currencies,
    summary_data,
)
from schemas.registry import personal_fields
from schemas.text import printable
from storage.views import Row, SqlCursor, ViewDatabase, to_micros


@dataclass(frozen=True)
class TimelineFilter:
    """What an agent narrows a timeline to; every field is optional."""

    type_prefix: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    as_of: datetime | None = None  # facts that happened by then (inclusive)
    known_at: datetime | None = None  # facts recorded by then (alerts: raised by then)

    def moment_clauses(self) -> tuple[list[str], list[Any]]:
        """SQL over a timeline table for ``as_of`` and ``known_at``: what had happened, and
        had been recorded, by then (rows from before ``recorded_at`` existed count as known)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.as_of:
            clauses.append("occurred_at <= %s")
            params.append(to_micros(self.as_of))
        if self.known_at:
            clauses.append("(recorded_at IS NULL OR recorded_at <= %s)")
            params.append(to_micros(self.known_at))
        return clauses, params


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Row]
    next_cursor: str | None


class TimelineProjection:
    """One generation of the timeline: a row per stored fact, and the pages agents read
    (with the SLA alerts of the alert book in their place)."""

    def __init__(self, views: ViewDatabase, alert_book: AlertBook,
                 generation: Generation) -> None:
        self.views = views
        self.alert_book = alert_book
        self.generation = generation.number
        self.name = generation.tracking_name
        self.customers = generation.shard  # rows are per customer: a shard writes its own
        self._table_name = generation.table("timeline_entries")
        self.table = views.table(self._table_name)

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables(
            [
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " customer_id TEXT NOT NULL,"
                " occurred_at BIGINT NOT NULL,"
                " position BIGINT NOT NULL,"
                " event_id TEXT NOT NULL,"
                " event_type TEXT NOT NULL,"
                " source TEXT NOT NULL,"
                " channel TEXT,"
                " time TEXT NOT NULL,"
                " summary TEXT NOT NULL,"
                " data TEXT NOT NULL,"
                " recorded_at BIGINT,"
                " PRIMARY KEY (customer_id, occurred_at, position))",
            ]
        )
        # Rows of a release before ``recorded_at`` have none: they count as known from
        # the start (``crm-timeline replay timeline`` dates them).
        # Rows of a release before ``extensions`` have none (NULL: shown as {}).
        views.add_columns(self._table_name, {"recorded_at": "BIGINT", "extensions": "TEXT"})

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        currencies = refund_currencies(cursor, self.table, [item.fact for item in batch])
        cursor.executemany(
            f"INSERT INTO {self.table} (customer_id, occurred_at, position, event_id,"
            " event_type, source, channel, time, summary, data, recorded_at, extensions)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            # A fact applied again (new shards starting from the first event) is one row.
            " ON CONFLICT (customer_id, occurred_at, position) DO NOTHING",
            [
                (
                    item.fact.customer_id,
                    to_micros(item.fact.occurred_at),
                    item.position,
                    item.fact.event_id,
                    item.fact.event_type,
                    item.fact.source,
                    item.fact.data.get("channel"),
                    item.fact.occurred_at.isoformat(),
                    summarize(item.fact.event_type, summary_data(
                        item.fact.event_type, item.fact.data, currencies, item.fact.customer_id)),
                    json.dumps(item.fact.data, separators=(",", ":")),
                    to_micros(item.fact.timestamp),
                    json.dumps(item.fact.extensions, separators=(",", ":"))
                    if item.fact.extensions else None,
                )
                for item in batch
            ],
        )
        for customer_id in {i.fact.customer_id for i in batch
                            if i.fact.event_type == ERASURE_REQUESTED}:
            self._erase(cursor, customer_id)

    def _erase(self, cursor: SqlCursor, customer_id: str) -> None:
        """Blank the personal fields, and the summaries made of them, of a customer's rows."""
        cursor.execute(f"SELECT occurred_at, position, event_type, data FROM {self.table}"
                       " WHERE customer_id = %s", [customer_id])
        updates = []
        rows = cursor.fetchall()
        currencies = placed_currencies(rows, customer_id=customer_id)  # refunds keep theirs
        for row in rows:
            paths = personal_fields(row["event_type"])
            if paths:
                data = blank(json.loads(row["data"]), paths)
                updates.append((summarize(row["event_type"], summary_data(
                                    row["event_type"], data, currencies, customer_id)),
                                json.dumps(data, separators=(",", ":")),
                                customer_id, row["occurred_at"], row["position"]))
        cursor.executemany(f"UPDATE {self.table} SET summary = %s, data = %s"
                           " WHERE customer_id = %s AND occurred_at = %s AND position = %s",
                           updates)

    def read(self, db: SqlCursor) -> list[Row]:
        db.execute(f"SELECT customer_id, occurred_at, position, event_id, event_type, source,"
                   f" channel, time, summary, data FROM {self.table}"
                   " ORDER BY customer_id, occurred_at, position")
        return db.fetchall()

    def drop_tables(self, db: SqlCursor) -> None:
        db.execute(f"DROP TABLE IF EXISTS {self.table}")


    def page(
        self,
        customer_ids: Sequence[str],
        *,
        where: TimelineFilter = TimelineFilter(),
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> TimelinePage:
        """One page of the timeline of a customer (with its merged duplicates), newest
        first unless ``oldest_first``: its facts, and SLA alerts in their place.
        ``InvalidCursor`` for a cursor this service did not hand out."""
        return _page(self.views, self.table, self.alert_book, customer_ids, where, limit,
                     cursor, oldest_first)


def _page(views: ViewDatabase, table: str, alert_book: AlertBook, customer_ids: Sequence[str],
          where: TimelineFilter, limit: int, cursor: str | None,
          oldest_first: bool) -> TimelinePage:
    clauses = [f"customer_id IN ({', '.join(['%s'] * len(customer_ids))})"]
    params: list[Any] = list(customer_ids)
    if where.type_prefix:
        clauses.append("(event_type = %s OR substr(event_type, 1, %s) = %s)")
        prefix = where.type_prefix.rstrip(".")
        params += [prefix, len(prefix) + 1, prefix + "."]
    if where.channel:
        clauses.append("channel = %s")
        params.append(where.channel)
    if where.since:
        clauses.append("occurred_at >= %s")
        params.append(to_micros(where.since))
    if where.until:
        clauses.append("occurred_at < %s")
        params.append(to_micros(where.until))
    moment, moment_params = where.moment_clauses()
    clauses += moment
    params += moment_params
    if cursor:
        after_time, after_position = _decode_cursor(cursor)
        comparison = ">" if oldest_first else "<"
        clauses.append(
            f"(occurred_at {comparison} %s OR (occurred_at = %s AND position {comparison} %s))"
        )
        params += [after_time, after_time, after_position]
    order = "ASC" if oldest_first else "DESC"
    entries = (
        f"SELECT customer_id, occurred_at, position, event_id, event_type, source, channel, time,"
        f" summary, data, recorded_at, extensions FROM {table}"
        f" UNION ALL SELECT alerts.*, NULL FROM ({alert_book.timeline_entries()}) AS alerts"
    )
    with views.read() as db:
        db.execute(
            "SELECT occurred_at, position, event_id, event_type, source, channel, time, summary,"
            f" data, extensions FROM ({entries}) AS entries WHERE {' AND '.join(clauses)}"
            f" ORDER BY occurred_at {order}, position {order} LIMIT %s",
            [*params, limit + 1],
        )
        rows = db.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1]["occurred_at"], rows[-1]["position"]) if more else None
    entries = [
        {
            "event_id": row["event_id"],
            "type": row["event_type"],
            "time": row["time"],
            "source": row["source"],
            "channel": row["channel"],
            "summary": row["summary"],
            "data": json.loads(row["data"]),
            "extensions": json.loads(row["extensions"]) if row["extensions"] else {},
            "position": row["position"],
        }
        for row in rows
    ]
    return TimelinePage(entries=link_entries(views, table, customer_ids, entries, where),
                        next_cursor=next_cursor)


def _encode_cursor(occurred_at: int, position: int) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at}:{position}".encode()).decode().rstrip("=")


#: Cursor numbers are BIGINT columns' values: anything wider is not one of ours.
_BIGINT = range(-(2 ** 63), 2 ** 63)


def _decode_cursor(cursor: str) -> tuple[int, int]:
    refused = InvalidCursor(f"cursor {printable(cursor, 100)!r} is not one this API returned")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        occurred_at, position = map(int, base64.urlsafe_b64decode(padded).decode().split(":"))
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if occurred_at not in _BIGINT or position not in _BIGINT:
        raise refused
    return occurred_at, position
