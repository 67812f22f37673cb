"""The webhook tables: endpoints, one delivery row per (endpoint, event), and every try.

* ``webhook_endpoints``: URL, the event patterns it asked for, its secret (kept as is:
  signing needs it, unlike an API key, which only needs checking) and when it was
  registered: an endpoint receives what was queued after that, not the past;
* ``webhook_deliveries``: the webhook outbox. Primary key (endpoint, event id): an event
  is queued for an endpoint once, however often the fan-out runs. ``seq`` orders them
  (the order the outboxes queued them); the body is the CloudEvent as it is sent, so
  every try and every re-send sends the same bytes; ``status`` pending, delivered or
  failed (given up), ``next_attempt_at`` when a pending one is next due;
* ``webhook_attempts``: the delivery log, one row per try: answer code or error.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.codec import from_micros, to_micros
from storage.views import Row, SqlCursor, ViewDatabase, select_in
from webhooks.signing import new_secret

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def _time(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat()


class WebhookBook:
    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.endpoints = views.table("webhook_endpoints")
        self.deliveries = views.table("webhook_deliveries")
        self.attempts = views.table("webhook_attempts")

    def create_tables(self) -> None:
        self.views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.endpoints} (endpoint_id TEXT PRIMARY KEY,"
            " url TEXT NOT NULL, events TEXT NOT NULL, description TEXT NOT NULL,"
            " secret TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.deliveries} (endpoint_id TEXT NOT NULL,"
            " event_id TEXT NOT NULL, seq BIGINT NOT NULL, customer_id TEXT NOT NULL,"
            " event_type TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,"
            " attempts INTEGER NOT NULL, round_start INTEGER NOT NULL, queued_at BIGINT NOT NULL,"
            " next_attempt_at BIGINT, last_attempt_at BIGINT, last_status_code INTEGER,"
            " last_error TEXT, delivered_at BIGINT, PRIMARY KEY (endpoint_id, event_id))",
            f"CREATE TABLE IF NOT EXISTS {self.attempts} (endpoint_id TEXT NOT NULL,"
            " event_id TEXT NOT NULL, attempt INTEGER NOT NULL, at BIGINT NOT NULL,"
            " status_code INTEGER, error TEXT, next_attempt_at BIGINT,"
            " PRIMARY KEY (endpoint_id, event_id, attempt))",
        ])
        self.views.add_indexes("webhook_deliveries", {
            "webhook_deliveries_due": "status, next_attempt_at",
            "webhook_deliveries_customer": "endpoint_id, customer_id, seq",
            "webhook_deliveries_seq": "endpoint_id, seq",
        })

    # --- endpoints --------------------------------------------------------------------

    def register(self, url: str, events: Sequence[str], description: str, by: str,
                 at: datetime) -> Row:
        """A new endpoint with a fresh secret (the returned row is the only place the
        secret is shown)."""
        row = {"endpoint_id": f"wh_{secrets.token_hex(8)}", "url": url,
               "events": json.dumps(list(events)), "description": description,
               "secret": new_secret(), "created_at": to_micros(at), "created_by": by}
        with self.views.write() as db:
            db.execute(f"INSERT INTO {self.endpoints} ({', '.join(row)}) VALUES"
                       f" ({', '.join(['%s'] * len(row))})", list(row.values()))
        return _endpoint(row, with_secret=True)

    def endpoint_rows(self, db: SqlCursor) -> list[Row]:
        """Every endpoint as stored (secrets included: for the fan-out and the worker)."""
        db.execute(f"SELECT * FROM {self.endpoints} ORDER BY created_at, endpoint_id")
        rows = db.fetchall()
        for row in rows:
            row["events"] = json.loads(row["events"])
        return rows

    def listing(self) -> list[Row]:
        with self.views.read() as db:
            return [_endpoint(row) for row in self.endpoint_rows(db)]

    def get(self, endpoint_id: str) -> Row | None:
        with self.views.read() as db:
            db.execute(f"SELECT * FROM {self.endpoints} WHERE endpoint_id = %s", [endpoint_id])
            row = db.fetchone()
        if row is None:
            return None
        row["events"] = json.loads(row["events"])
        return _endpoint(row)

    def remove(self, endpoint_id: str) -> int | None:
        """Remove the endpoint with its deliveries and their log; how many deliveries went
        with it (None: no such endpoint)."""
        with self.views.write() as db:
            db.execute(f"SELECT count(*) AS n FROM {self.deliveries} WHERE endpoint_id = %s",
                       [endpoint_id])
            count = int(db.fetchone()["n"])  # type: ignore[index]
            db.execute(f"DELETE FROM {self.endpoints} WHERE endpoint_id = %s", [endpoint_id])
            if db.rowcount() == 0:
                return None
            for table in (self.attempts, self.deliveries):
                db.execute(f"DELETE FROM {table} WHERE endpoint_id = %s", [endpoint_id])
        return count

    # --- deliveries -------------------------------------------------------------------

    def last_seq(self, db: SqlCursor) -> int:
        db.execute(f"SELECT COALESCE(MAX(seq), 0) AS n FROM {self.deliveries}")
        return int(db.fetchone()["n"])  # type: ignore[index]

    def queue(self, db: SqlCursor, rows: Sequence[Row]) -> None:
        """Queue deliveries (endpoint_id, event_id, seq, customer_id, event_type, body,
        queued_at); one already queued for its endpoint is left as it is."""
        db.executemany(
            f"INSERT INTO {self.deliveries} (endpoint_id, event_id, seq, customer_id, event_type,"
            " body, status, attempts, round_start, queued_at, next_attempt_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, 0, %s, %s)"
            " ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            [(r["endpoint_id"], r["event_id"], r["seq"], r["customer_id"], r["event_type"],
              r["body"], r["queued_at"], r["queued_at"]) for r in rows])

    def due(self, now: datetime, limit: int) -> list[Row]:
        """Pending deliveries due by ``now``, in queue order, each the earliest pending one
        of its customer to its endpoint (a later one waits while an earlier one retries),
        with the endpoint's URL and secret."""
        with self.views.read() as db:
            db.execute(
                "SELECT d.endpoint_id, d.event_id, d.customer_id, d.event_type, d.body,"
                " d.attempts, d.round_start, e.url, e.secret"
                f" FROM {self.deliveries} d JOIN {self.endpoints} e"
                " ON e.endpoint_id = d.endpoint_id"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= %s"
                f" AND NOT EXISTS (SELECT 1 FROM {self.deliveries} p"
                "  WHERE p.endpoint_id = d.endpoint_id AND p.customer_id = d.customer_id"
                "  AND p.status = 'pending' AND p.seq < d.seq)"
                " ORDER BY d.seq LIMIT %s", [to_micros(now), limit])
            return db.fetchall()

    def record_attempt(self, delivery: Row, at: datetime, status_code: int | None,
                       error: str | None, outcome: str, next_at: datetime | None) -> None:
        """One try's answer (``outcome``: pending again, delivered or failed) in the
        delivery and in its log, in one transaction."""
        attempt = delivery["attempts"] + 1
        key = [delivery["endpoint_id"], delivery["event_id"]]
        next_micros = None if next_at is None else to_micros(next_at)
        with self.views.write() as db:
            db.execute(
                f"UPDATE {self.deliveries} SET attempts = %s, status = %s, next_attempt_at = %s,"
                " last_attempt_at = %s, last_status_code = %s, last_error = %s,"
                " delivered_at = %s WHERE endpoint_id = %s AND event_id = %s AND attempts = %s",
                [attempt, outcome, next_micros, to_micros(at), status_code, error,
                 to_micros(at) if outcome == DELIVERED else None, *key, delivery["attempts"]])
            if db.rowcount() == 0:
                return  # removed, or tried by another worker meanwhile: its record stands
            db.execute(
                f"INSERT INTO {self.attempts} (endpoint_id, event_id, attempt, at, status_code,"
                " error, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [*key, attempt, to_micros(at), status_code, error, next_micros])

    def resend(self, endpoint_id: str, event_id: str, at: datetime) -> Row | None:
        """Queue the delivery again, due now, with a fresh count of tries before it is
        given up; the same body and the same id (receivers see the same event)."""
        with self.views.write() as db:
            db.execute(
                f"UPDATE {self.deliveries} SET status = 'pending', next_attempt_at = %s,"
                " round_start = attempts WHERE endpoint_id = %s AND event_id = %s",
                [to_micros(at), endpoint_id, event_id])
            if db.rowcount() == 0:
                return None
        return self.delivery(endpoint_id, event_id)

    def delivery(self, endpoint_id: str, event_id: str) -> Row | None:
        found = self.log(endpoint_id, event_id=event_id, limit=1)
        return found[0] if found else None

    def log(self, endpoint_id: str, *, event_id: str | None = None, status: str | None = None,
            limit: int = 100) -> list[Row]:
        """The endpoint's deliveries, newest first, each with its tries."""
        clauses, params = ["endpoint_id = %s"], [endpoint_id]
        for column, value in (("event_id", event_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        with self.views.read() as db:
            db.execute(f"SELECT * FROM {self.deliveries} WHERE {' AND '.join(clauses)}"
                       " ORDER BY seq DESC LIMIT %s", [*params, limit])
            rows = db.fetchall()
            tries: dict[str, list[Row]] = {row["event_id"]: [] for row in rows}
            for attempt in select_in(db, f"SELECT * FROM {self.attempts} WHERE endpoint_id = %s"
                                         " AND event_id IN ({ids}) ORDER BY attempt",
                                     list(tries), before=[endpoint_id]):
                tries[attempt["event_id"]].append(
                    {"attempt": attempt["attempt"], "at": _time(attempt["at"]),
                     "status_code": attempt["status_code"], "error": attempt["error"],
                     "next_attempt_at": _time(attempt["next_attempt_at"])})
        return [{"event_id": row["event_id"], "event_type": row["event_type"],
                 "customer_id": row["customer_id"], "status": row["status"],
                 "attempts": row["attempts"], "queued_at": _time(row["queued_at"]),
                 "last_attempt_at": _time(row["last_attempt_at"]),
                 "last_status_code": row["last_status_code"], "last_error": row["last_error"],
                 "next_attempt_at": _time(row["next_attempt_at"]) if row["status"] == PENDING
                 else None, "delivered_at": _time(row["delivered_at"]),
                 "tries": tries[row["event_id"]]} for row in rows]

    def counts(self, db: SqlCursor) -> dict[str, int]:
        """Deliveries by status (``crm_webhook_deliveries``): pending ones piling up mean
        a receiver is down."""
        db.execute(f"SELECT status, count(*) AS n FROM {self.deliveries} GROUP BY status")
        return {row["status"]: int(row["n"]) for row in db.fetchall()}


def _endpoint(row: Row, *, with_secret: bool = False) -> Row:
    shown: dict[str, Any] = {"id": row["endpoint_id"], "url": row["url"],
                             "events": json.loads(row["events"]) if isinstance(row["events"], str)
                             else row["events"], "description": row["description"],
                             "created_at": _time(row["created_at"]), "created_by": row["created_by"]}
    if with_secret:
        shown["secret"] = row["secret"]
    return shown
