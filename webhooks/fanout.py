"""From the outboxes to the webhook outbox: each queued alert and segment change becomes
one delivery row per endpoint that asked for its type, exactly once.

The alert outbox (``alert_outbox``) and the segment changes (``segment_changes``) get a
``webhooks_at`` column beside the Kafka relays' ``published_at``: the fan-out selects
rows where it is NULL, inserts their deliveries and sets it, in one transaction of the
same database. A fan-out killed midway rolls back and does the same again; one that
ran twice finds nothing left; and a delivery's primary key (endpoint, event id) would
refuse a second copy anyway. No cursor over the outboxes: their transactions commit
out of the order they queued in, and a cursor would skip a late one.

An endpoint receives what was queued after it was registered. Rows queued in the last
``settle_seconds`` wait for the next round: an endpoint registered at that moment, in a
transaction this one cannot see yet, still gets them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.published import alert_cloudevent, alert_type, segment_cloudevent
from storage.codec import to_micros
from storage.views import SqlCursor, ViewDatabase
from webhooks.book import WebhookBook
from webhooks.targets import wants

#: PostgreSQL advisory lock of the fan-out: two processes never number deliveries at once.
_FANOUT_LOCK = 0x63726D77


class _Source:
    """One outbox: its table, id and time columns, and how a row becomes a CloudEvent."""

    def __init__(self, table: str, id_column: str, time_column: str,
                 event: Callable[[dict[str, Any]], dict[str, Any]],
                 event_type: Callable[[dict[str, Any]], str]) -> None:
        self.table, self.id_column, self.time_column = table, id_column, time_column
        self.event, self.event_type = event, event_type

    def skip_older(self, db: SqlCursor, before: int, at: int) -> None:
        """Mark as done what no endpoint can receive: queued before ``before``."""
        db.execute(f"UPDATE {self.table} SET webhooks_at = %s WHERE webhooks_at IS NULL"
                   f" AND {self.time_column} < %s", [at, before])

    def waiting(self, db: SqlCursor, before: int, limit: int) -> list[dict[str, Any]]:
        db.execute(f"SELECT {self.id_column} AS id, {self.time_column} AS queued_at, message"
                   f" FROM {self.table} WHERE webhooks_at IS NULL AND {self.time_column} < %s"
                   f" ORDER BY {self.time_column}, {self.id_column} LIMIT %s", [before, limit])
        return db.fetchall()

    def any_waiting(self, db: SqlCursor) -> bool:
        db.execute(f"SELECT 1 AS found FROM {self.table} WHERE webhooks_at IS NULL LIMIT 1")
        return db.fetchone() is not None

    def mark(self, db: SqlCursor, ids: list[str], at: int) -> None:
        db.executemany(f"UPDATE {self.table} SET webhooks_at = %s WHERE {self.id_column} = %s",
                       [(at, i) for i in ids])


class WebhookFanOut:
    def __init__(self, views: ViewDatabase, book: WebhookBook, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 settle_seconds: float = 1.0, batch_size: int = 500) -> None:
        self.views, self.book, self.clock = views, book, clock
        self.settle = timedelta(seconds=settle_seconds)
        self.batch_size = batch_size
        self.sources = [
            _Source(views.table("alert_outbox"), "alert_id", "queued_at", alert_cloudevent,
                    alert_type),
            _Source(views.table("segment_changes"), "change_id", "at", segment_cloudevent,
                    lambda message: message["type"]),
        ]

    def create_tables(self) -> None:
        """The ``webhooks_at`` column of both outboxes, and its index (the outboxes are
        made by their read models first: ``bootstrap.build_views``)."""
        for name, column in (("alert_outbox", "queued_at"), ("segment_changes", "at")):
            self.views.add_columns(name, {"webhooks_at": "BIGINT"})
            self.views.add_indexes(name, {f"{name}_webhooks": f"webhooks_at, {column}"})

    def fan_out_once(self) -> int:
        """One batch from the outboxes; returns how many outbox rows it took."""
        with self.views.read() as db:  # a read first: SQLite's one writer is not taken idly
            if not any(source.any_waiting(db) for source in self.sources):
                return 0
        now = self.clock()
        at, before = to_micros(now), to_micros(now - self.settle)
        with self.views.write() as db:
            if self.views.dialect == "postgres":
                db.execute("SELECT pg_advisory_xact_lock(%s)", [_FANOUT_LOCK])
            endpoints = self.book.endpoint_rows(db)
            earliest = min((e["created_at"] for e in endpoints), default=before)
            for source in self.sources:
                source.skip_older(db, min(earliest, before), at)
            if not endpoints:
                return 0
            waiting = [(source, row) for source in self.sources
                       for row in source.waiting(db, before, self.batch_size)]
            waiting.sort(key=lambda item: (item[1]["queued_at"], item[1]["id"]))
            waiting = waiting[:self.batch_size]
            seq = self.book.last_seq(db)
            deliveries = []
            for source, row in waiting:
                message = json.loads(row["message"])
                event_type = source.event_type(message)
                seq += 1
                body = None
                for endpoint in endpoints:
                    if endpoint["created_at"] > row["queued_at"]:
                        continue
                    if not wants(endpoint["events"], event_type):
                        continue
                    if body is None:
                        body = json.dumps(source.event(message), sort_keys=True)
                    deliveries.append({"endpoint_id": endpoint["endpoint_id"],
                                       "event_id": row["id"], "seq": seq,
                                       "customer_id": message["customer_id"],
                                       "event_type": event_type, "body": body,
                                       "queued_at": row["queued_at"]})
            self.book.queue(db, deliveries)
            for source in self.sources:
                source.mark(db, [row["id"] for s, row in waiting if s is source], at)
        return len(waiting)
