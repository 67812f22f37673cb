"""The alert book: alerts stored for agents, and queued for ``crm.alerts`` in one transaction.

Raising an alert inserts its row and its outbox message in the caller's
transaction (the projection update that found it), both keyed by the alert's
stable id with ``ON CONFLICT DO NOTHING``: an alert raised again (a re-applied
batch, a replay of history) is neither stored nor queued twice, and an alert
already published is never published again. SLA, anomaly and overdue follow-up alerts
also appear on the customer's timeline at the moment they happened: each carries the
timeline type, summary and position the timeline reads them with
(``projections/timeline.py``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from domain.alerts import Alert
from storage.views import Row, SqlCursor, ViewDatabase, select_in, to_micros

_SLA_HEADLINES = {"sla_breach": "SLA breached", "sla_at_risk": "SLA at risk"}
#: Alerts shown on the customer's timeline, at the moment they happened, as these types.
_TIMELINE_TYPES = {"sla_breach": "crm.sla.breached", "sla_at_risk": "crm.sla.at_risk",
                   "anomaly": "crm.anomaly.flagged", "follow_up_overdue": "crm.follow_up.overdue"}
#: Where each kind's timeline rows say they come from (default: the SLA clock).
_TIMELINE_SOURCES = {"anomaly": "crm-timeline/anomalies",
                     "follow_up_overdue": "crm-timeline/follow-ups"}


def _summary(alert: Alert) -> str | None:
    d = alert.details
    if alert.kind == "anomaly":
        return f"Flagged ({d['reason'].replace('_', ' ')}): {d['summary']}"
    if alert.kind == "follow_up_overdue":
        contact = f"the {d['channel']} contact" if d.get("channel") else "the contact"
        return f"Follow-up overdue: {contact} of {d['opened_at']} promised one by {d['due']}"
    if alert.kind not in _SLA_HEADLINES:
        return None
    deadline = d["deadline"].replace("_", " ")
    return (f"{_SLA_HEADLINES[alert.kind]}: {deadline} of complaint {d['complaint_id']} "
            f"due {d['due']} ({d['priority']} priority)")


def alert_message(alert: Alert) -> dict[str, Any]:
    """The message published on ``crm.alerts`` (its key is the alert id)."""
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "customer_id": alert.customer_id,
        "raised_at": alert.raised_at.isoformat(),
        **alert.details,
    }


class AlertBook:
    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.alerts = views.table("alerts")
        self.outbox = views.table("alert_outbox")

    def create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.alerts} ("
            " alert_id TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL,"
            " customer_id TEXT NOT NULL,"
            " raised_at BIGINT NOT NULL,"
            " raised_time TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " details TEXT NOT NULL,"
            " acknowledged_by TEXT,"
            " acknowledged_at TEXT,"
            " timeline_type TEXT,"
            " timeline_position BIGINT,"
            " summary TEXT)",
            f"CREATE TABLE IF NOT EXISTS {self.outbox} ("
            " alert_id TEXT PRIMARY KEY,"
            " message TEXT NOT NULL,"
            " queued_at BIGINT NOT NULL,"
            " published_at BIGINT)",
        ]

    def create_indexes(self) -> None:
        """A customer's alerts newest first (the 360's flags, the search by flag) without
        reading every alert."""
        self.views.add_indexes("alerts", {"alerts_by_customer": "customer_id, raised_at"})

    def raise_alerts(self, db: SqlCursor, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        queued_at = to_micros(datetime.now(UTC))  # orders the relay's work, nothing else
        db.executemany(
            f"INSERT INTO {self.alerts} (alert_id, kind, customer_id, raised_at, raised_time,"
            " status, details, timeline_type, timeline_position, summary)"
            " VALUES (%s, %s, %s, %s, %s, 'open', %s, %s, %s, %s)"
            " ON CONFLICT (alert_id) DO NOTHING",
            [(a.alert_id, a.kind, a.customer_id, to_micros(a.raised_at), a.raised_at.isoformat(),
              json.dumps(a.details, sort_keys=True), _TIMELINE_TYPES.get(a.kind),
              _timeline_position(a.alert_id), _summary(a))
             for a in alerts],
        )
        db.executemany(
            f"INSERT INTO {self.outbox} (alert_id, message, queued_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (alert_id) DO NOTHING",
            [(a.alert_id, json.dumps(alert_message(a), sort_keys=True), queued_at)
             for a in alerts],
        )

    def timeline_entries(self) -> str:
        """The SELECT of SLA, anomaly and follow-up alerts as timeline rows (``projections/timeline.py``
        reads them in place): customer, time, position, id, type, source, channel, time
        text, summary, details, and when it became known: when it was raised."""
        return ("SELECT customer_id, raised_at, timeline_position, alert_id, timeline_type,"
                " CASE " + " ".join(f"WHEN kind = '{kind}' THEN '{source}'"
                                    for kind, source in _TIMELINE_SOURCES.items())
                + " ELSE 'crm-timeline/sla' END, NULL, raised_time, summary, details, raised_at"
                f" FROM {self.alerts} WHERE timeline_type IS NOT NULL")

    def listing(self, db: SqlCursor, *, kind: str | None = None, status: str | None = None,
                customer_id: str | Sequence[str] | None = None, limit: int = 100) -> list[Row]:
        """Alerts newest first, of ``kind``, in ``status``, about ``customer_id`` (or any of
        several: a merge group's members) if given."""
        clauses, params = ["1 = 1"], []
        for column, value in (("kind", kind), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if customer_id is not None:
            ids = [customer_id] if isinstance(customer_id, str) else list(customer_id)
            clauses.append(f"customer_id IN ({', '.join(['%s'] * len(ids))})")
            params.extend(ids)
        db.execute(
            "SELECT alert_id, kind, customer_id, raised_time, status, details, acknowledged_by,"
            f" acknowledged_at FROM {self.alerts} WHERE {' AND '.join(clauses)}"
            " ORDER BY raised_at DESC, alert_id LIMIT %s",
            [*params, limit],
        )
        rows = db.fetchall()
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows

    def waiting(self, db: SqlCursor, customer_ids: Sequence[str] | None = None,
                limit: int = 500) -> list[Row]:
        """Open (unacknowledged) alerts oldest first, ties by customer id, of these
        customers (None: everyone's): the work queue's alerts."""
        columns = ("SELECT alert_id, kind, customer_id, raised_at, raised_time, details, summary"
                   f" FROM {self.alerts} WHERE status = 'open'")
        order = " ORDER BY raised_at, customer_id, alert_id LIMIT %s"
        if customer_ids is None:
            db.execute(columns + order, [limit])
            rows = db.fetchall()
        else:
            rows = select_in(db, f"{columns} AND customer_id IN ({{ids}}){order}", customer_ids,
                             after=[limit])
        rows.sort(key=lambda r: (r["raised_at"], r["customer_id"], r["alert_id"]))
        for row in rows[:limit]:
            row["details"] = json.loads(row["details"])
        return rows[:limit]

    def acknowledge(self, db: SqlCursor, alert_id: str, by: str, at: datetime) -> Row | None:
        """Record who acknowledged and when; the first acknowledgement stands."""
        db.execute(
            f"UPDATE {self.alerts} SET status = 'acknowledged', acknowledged_by = %s,"
            " acknowledged_at = %s WHERE alert_id = %s AND status = 'open'",
            [by, at.isoformat(), alert_id],
        )
        return self.get(db, alert_id)

    def get(self, db: SqlCursor, alert_id: str) -> Row | None:
        db.execute(
            "SELECT alert_id, kind, customer_id, raised_time, status, details, acknowledged_by,"
            f" acknowledged_at FROM {self.alerts} WHERE alert_id = %s",
            [alert_id],
        )
        row = db.fetchone()
        if row is not None:
            row["details"] = json.loads(row["details"])
        return row

    def pending(self, db: SqlCursor, limit: int) -> list[Row]:
        """Queued alerts, oldest first, as the relay takes them: (id, key, message)."""
        db.execute(
            f"SELECT alert_id AS id, message FROM {self.outbox} WHERE published_at IS NULL"
            " ORDER BY queued_at, alert_id LIMIT %s",
            [limit],
        )
        rows = db.fetchall()
        for row in rows:  # one customer's alerts on one partition, in order
            row["key"] = json.loads(row["message"])["customer_id"]
        return rows

    def backlog(self, db: SqlCursor) -> int:
        """Alerts raised but not yet acknowledged by the broker."""
        db.execute(f"SELECT count(*) AS n FROM {self.outbox} WHERE published_at IS NULL")
        row = db.fetchone()
        return int(row["n"]) if row else 0

    def counts(self, db: SqlCursor) -> dict[tuple[str, str], int]:
        """How many alerts of each (kind, status)."""
        db.execute(f"SELECT kind, status, count(*) AS n FROM {self.alerts} GROUP BY kind, status")
        return {(row["kind"], row["status"]): int(row["n"]) for row in db.fetchall()}

    def mark_published(self, db: SqlCursor, alert_ids: Sequence[str], at: datetime) -> None:
        db.executemany(
            f"UPDATE {self.outbox} SET published_at = %s WHERE alert_id = %s",
            [(to_micros(at), alert_id) for alert_id in alert_ids],
        )


def _timeline_position(alert_id: str) -> int:
    """Timeline rows of alerts have no store position: a stable negative stand-in."""
    return -1 - zlib.crc32(alert_id.encode())
