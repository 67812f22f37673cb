"""Facts a read model could not apply, set aside so that it goes on with the next.

The history is append-only: a fact that a read model cannot apply (a value its
table refuses, a rule meeting a case it never met) would otherwise stop that
read model for good, on every replay too. So a fact that fails alone, twice,
for a reason that is the data's (``storage.errors.is_data_fault``) is recorded
here, with the read model's name (its tracking name), the fact's position in
the history, its event id, type and customer, and the error; in the same
transaction the read model's position moves past it. It is counted
(``crm_projection_facts_set_aside_total``), raised as an operations alert (kind
``fact_set_aside``), shown by ``crm-timeline status`` and ``GET /readyz`` (not
ready while one is not acknowledged), and can be applied again once the cause
is fixed: ``crm-timeline projections set-aside retry`` asks, and the projector
that keeps the read model applies them between its batches (so nothing else
writes its rows at the same time).

This module owns the ``projection_set_aside`` table and every query of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter

from domain.alerts import Alert
from domain.facts import CustomerFact
from projections.alerts import AlertBook
from schemas.text import printable
from storage.codec import from_micros
from storage.errors import explain, is_data_fault
from storage.views import Row, SqlCursor, ViewDatabase, to_micros

log = logging.getLogger(__name__)

ALERT_KIND = "fact_set_aside"
FACTS_SET_ASIDE = Counter("crm_projection_facts_set_aside", "Facts a read model could not "
                          "apply and set aside to go on (crm-timeline projections set-aside "
                          "list).", ["read_model"])

#: A fact the rules could not take, and why.
Unfolded = tuple[CustomerFact, Exception]


def feed_each(facts: Iterable[CustomerFact], add: Callable[[CustomerFact], object],
              unfolded: list[Unfolded]) -> None:
    """``add`` every fact; one its rules cannot take for the data's sake is skipped and
    noted in ``unfolded``, so the others still count. For read models that fold a
    customer's whole history from the store: one bad fact there would otherwise fail
    every later fact of that customer too."""
    for fact in facts:
        try:
            add(fact)
        except Exception as error:
            if not is_data_fault(error):
                raise
            unfolded.append((fact, error))


class SetAsideBook:
    def __init__(self, views: ViewDatabase) -> None:
        self.table = views.table("projection_set_aside")
        self.alert_book = AlertBook(views)

    def create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " read_model TEXT NOT NULL,"
            " position BIGINT NOT NULL,"
            " event_id TEXT NOT NULL,"
            " event_type TEXT NOT NULL,"
            " customer_id TEXT NOT NULL,"
            " error TEXT NOT NULL,"
            " set_aside_at BIGINT NOT NULL,"
            " acknowledged_at BIGINT,"
            " retry_requested_at BIGINT,"
            " PRIMARY KEY (read_model, position))",
        ]

    def set_aside(self, db: SqlCursor, read_model: str, position: int, fact: CustomerFact,
                  error: BaseException) -> None:
        """Record the fact at ``position`` as set aside for ``read_model``, and raise the
        operations alert that says so (logged and counted too)."""
        self.alert_book.raise_alerts(db, [self._record(db, read_model, position, fact, error)])
        FACTS_SET_ASIDE.labels(read_model).inc()
        log.error("projection %s set aside the fact at position %d (%s) and goes on: %s",
                  read_model, position, fact.event_type, explain(error), exc_info=error,
                  extra={"event_type": fact.event_type})

    def set_aside_unfolded(self, db: SqlCursor, read_model: str, positions: dict[str, int],
                           unfolded: Sequence[Unfolded]) -> None:
        """Set aside the facts ``feed_each`` skipped that are in the batch (``positions``:
        event id -> position); the others were set aside when their own batch came."""
        for fact, error in unfolded:
            if fact.event_id in positions:
                self.set_aside(db, read_model, positions.pop(fact.event_id), fact, error)

    def _record(self, db: SqlCursor, read_model: str, position: int, fact: CustomerFact,
                error: BaseException) -> Alert:
        """Ids are stored escaped: the fact may be set aside for holding what a text column
        refuses."""
        now = datetime.now(UTC)
        event_id, customer_id = printable(fact.event_id), printable(fact.customer_id, 64)
        said = printable(explain(error), 500)
        db.execute(
            f"INSERT INTO {self.table} (read_model, position, event_id, event_type, customer_id,"
            " error, set_aside_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (read_model, position) DO UPDATE SET error = excluded.error,"
            " set_aside_at = excluded.set_aside_at, acknowledged_at = NULL,"
            " retry_requested_at = NULL",
            [read_model, position, event_id, fact.event_type, customer_id, said,
             to_micros(now)],
        )
        return Alert(
            alert_id=f"{ALERT_KIND}:{read_model}:{position}",
            kind=ALERT_KIND,
            customer_id=customer_id,
            raised_at=now,
            details={"read_model": read_model, "position": position, "event_id": event_id,
                     "event_type": fact.event_type, "error": said},
        )

    def listing(self, db: SqlCursor, *, read_model: str | None = None,
                acknowledged: bool = True) -> list[Row]:
        """Set-aside facts, oldest first; only those of ``read_model`` if given, and without
        the acknowledged ones unless ``acknowledged``."""
        clauses, params = ["1 = 1"], []
        if read_model is not None:
            clauses.append("read_model = %s")
            params.append(read_model)
        if not acknowledged:
            clauses.append("acknowledged_at IS NULL")
        db.execute(
            "SELECT read_model, position, event_id, event_type, customer_id, error, set_aside_at,"
            f" acknowledged_at, retry_requested_at FROM {self.table}"
            f" WHERE {' AND '.join(clauses)} ORDER BY set_aside_at, read_model, position", params)
        rows = db.fetchall()
        for row in rows:
            for moment in ("set_aside_at", "acknowledged_at", "retry_requested_at"):
                if row[moment] is not None:
                    row[moment] = from_micros(row[moment])
        return rows

    def unacknowledged(self, db: SqlCursor) -> dict[str, int]:
        """Per read model, how many set-aside facts nobody has acknowledged yet."""
        db.execute(f"SELECT read_model, count(*) AS n FROM {self.table}"
                   " WHERE acknowledged_at IS NULL GROUP BY read_model")
        return {row["read_model"]: int(row["n"]) for row in db.fetchall()}

    def acknowledge(self, db: SqlCursor, read_model: str | None = None) -> int:
        """Mark set-aside facts as seen by an operator (they stay listed and retryable)."""
        params: list[object] = [to_micros(datetime.now(UTC))]
        which = ""
        if read_model is not None:
            which, params = " AND read_model = %s", [*params, read_model]
        db.execute(f"UPDATE {self.table} SET acknowledged_at = %s"
                   f" WHERE acknowledged_at IS NULL{which}", params)
        return db.rowcount()

    def request_retry(self, db: SqlCursor, read_model: str | None = None) -> int:
        """Ask the projectors to apply the set-aside facts (of ``read_model``) again."""
        params: list[object] = [to_micros(datetime.now(UTC))]
        which = ""
        if read_model is not None:
            which, params = " WHERE read_model = %s", [*params, read_model]
        db.execute(f"UPDATE {self.table} SET retry_requested_at = %s{which}", params)
        return db.rowcount()

    def retries_requested(self, db: SqlCursor, read_models: list[str]) -> list[tuple[str, int]]:
        """(read model, position) of the facts a projector of ``read_models`` should retry."""
        if not read_models:
            return []
        db.execute(f"SELECT read_model, position FROM {self.table}"
                   " WHERE retry_requested_at IS NOT NULL"
                   f" AND read_model IN ({', '.join(['%s'] * len(read_models))})"
                   " ORDER BY position", read_models)
        return [(row["read_model"], row["position"]) for row in db.fetchall()]

    def resolve(self, db: SqlCursor, read_model: str, position: int) -> None:
        """The fact was applied after all: it is no longer set aside."""
        db.execute(f"DELETE FROM {self.table} WHERE read_model = %s AND position = %s",
                   [read_model, position])

    def failed_again(self, db: SqlCursor, read_model: str, position: int,
                     error: BaseException) -> None:
        """A retry failed too: keep the fact set aside, with the new error, and stop asking."""
        db.execute(f"UPDATE {self.table} SET error = %s, retry_requested_at = NULL"
                   " WHERE read_model = %s AND position = %s",
                   [printable(explain(error), 500), read_model, position])
