"""Follow-up tasks: contacts that promised a call back, until a later contact closes them.

The rules are ``domain/follow_ups.py``; this read model owns ``follow_up_tasks`` (one
row per task, keyed by the opening contact's event id, so a batch applied again writes
the same rows) and ``follow_up_last_contacts`` (each customer's latest contact time,
so a ``follow_up`` contact arriving after a later contact is closed at once: the
contact that closes it is then read from the store, a rare path).

The follow-up clock (``check_due``, ticked beside the SLA clock) raises one
``follow_up_overdue`` alert per task left open past its due time, through the alert
book in the same transaction that marks the task alerted: a restart raises nothing
twice (the alert id is stable, too). It judges only when nothing is on its way: the
history has heard all upstream published and this read model has applied all the
history holds, since a contact still in transit may have been in time. A task
closed late still had its overdue moment, so it is alerted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.facts import stored_topic
from domain.follow_ups import FollowUp, opened_by, overdue_alert
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.generation import Generation
from projections.runner import Positioned
from storage.codec import from_micros
from storage.views import Row, SqlCursor, ViewDatabase, select_in, to_micros

Clock = Callable[[], datetime]

CONTACT = "crm.contact.logged"
#: The default wait for a follow-up without ``follow_up_at`` (``CRM_FOLLOW_UP_HOURS``).
DEFAULT_WAIT = timedelta(hours=24)
_COLUMNS = ("task_id", "customer_id", "opened_at", "due_at", "agent_id", "channel",
            "closed_at", "closed_by")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _task(row: Row) -> FollowUp:
    return FollowUp(row["task_id"], row["customer_id"], from_micros(row["opened_at"]),
                    from_micros(row["due_at"]), row["agent_id"], row["channel"],
                    from_micros(row["closed_at"]) if row["closed_at"] is not None else None,
                    row["closed_by"])


def task_json(task: FollowUp, now: datetime) -> dict[str, Any]:
    """A task as the API shows it, with its state at ``now``."""
    return {"task_id": task.task_id, "customer_id": task.customer_id,
            "opened_at": task.opened_at.isoformat(), "due_at": task.due_at.isoformat(),
            "agent_id": task.agent_id, "channel": task.channel,
            "status": "open" if task.is_open(now) else "closed",
            "overdue": task.is_overdue(now),
            "closed_at": task.closed_at.isoformat() if task.closed_at and not task.is_open(now)
            else None,
            "closed_by": task.closed_by if not task.is_open(now) else None}


class FollowUpProjection:
    """The follow-up tasks of one shard's customers, their queries and their clock."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, generation: Generation,
                 wait: timedelta = DEFAULT_WAIT, clock: Clock = utc_now) -> None:
        self.name = generation.tracking_name
        self.customers = generation.shard
        self.topics = (stored_topic(CONTACT),)
        self.reads_personal_data = False  # outcome, times, agent and channel only
        self.history = history
        self.views = views
        self.wait = wait
        self.clock = clock
        self.alert_book = AlertBook(views)
        self.table = views.table("follow_up_tasks")
        self.last_table = views.table("follow_up_last_contacts")

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " task_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,"
            " opened_at BIGINT NOT NULL, due_at BIGINT NOT NULL, agent_id TEXT, channel TEXT,"
            " closed_at BIGINT, closed_by TEXT, alerted INTEGER NOT NULL DEFAULT 0)",
            f"CREATE TABLE IF NOT EXISTS {self.last_table} ("
            " customer_id TEXT PRIMARY KEY, contact_at BIGINT NOT NULL)",
        ])
        views.add_indexes("follow_up_tasks", {"follow_up_tasks_by_customer": "customer_id",
                                              "follow_up_tasks_to_alert": "alerted, due_at"})

    # --- the batch ---------------------------------------------------------------------

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        contacts = sorted((i for i in batch if i.fact.event_type == CONTACT
                           and self.customers.owns(i.fact.customer_id)),
                          key=lambda i: (i.fact.occurred_at, i.position))
        if not contacts:
            return
        customers = sorted({i.fact.customer_id for i in contacts})
        earliest = to_micros(contacts[0].fact.occurred_at)
        tasks: dict[str, dict[str, FollowUp]] = {c: {} for c in customers}
        for row in self._rows(cursor, customers, " AND (closed_at IS NULL OR closed_at > %s)",
                              [earliest]):
            tasks[row["customer_id"]][row["task_id"]] = _task(row)
        before = {c: dict(t) for c, t in tasks.items()}
        last = self._last_contacts(cursor, customers)
        late: list[FollowUp] = []
        for item in contacts:
            fact = item.fact
            own = tasks[fact.customer_id]
            for task_id, task in own.items():
                own[task_id] = task.closed(fact.event_id, fact.occurred_at)
            task = opened_by(fact.customer_id, fact.event_id, fact.occurred_at, fact.data,
                             self.wait)
            if task is not None and task.task_id not in own:
                own[task.task_id] = task
                if last.get(fact.customer_id, task.opened_at) > task.opened_at:
                    late.append(task)
            if fact.customer_id not in last or fact.occurred_at > last[fact.customer_id]:
                last[fact.customer_id] = fact.occurred_at
        for task in late:  # a later contact was recorded before it: the first one closes it
            tasks[task.customer_id][task.task_id] = self._closed_from_store(
                tasks[task.customer_id][task.task_id])
        changed = [t for c in customers for i, t in tasks[c].items() if before[c].get(i) != t]
        cursor.executemany(
            f"INSERT INTO {self.table} ({', '.join(_COLUMNS)}) VALUES"
            f" ({', '.join(['%s'] * len(_COLUMNS))}) ON CONFLICT (task_id) DO UPDATE SET"
            " closed_at = excluded.closed_at, closed_by = excluded.closed_by"
            # closing only moves earlier: a batch applied again never reopens a task
            f" WHERE excluded.closed_at IS NOT NULL AND ({self.table}.closed_at IS NULL"
            f" OR excluded.closed_at < {self.table}.closed_at)",
            [(t.task_id, t.customer_id, to_micros(t.opened_at), to_micros(t.due_at), t.agent_id,
              t.channel, to_micros(t.closed_at) if t.closed_at else None, t.closed_by)
             for t in changed],
        )
        cursor.executemany(
            f"INSERT INTO {self.last_table} (customer_id, contact_at) VALUES (%s, %s)"
            " ON CONFLICT (customer_id) DO UPDATE SET contact_at = excluded.contact_at"
            f" WHERE excluded.contact_at > {self.last_table}.contact_at",
            [(c, to_micros(last[c])) for c in customers],
        )

    def _closed_from_store(self, task: FollowUp) -> FollowUp:
        facts = self.history.customers_facts([task.customer_id], self.topics,
                                             personal_data=False)[task.customer_id]
        for fact in sorted(facts, key=lambda f: f.occurred_at):
            task = task.closed(fact.event_id, fact.occurred_at)
        return task

    def _last_contacts(self, db: SqlCursor, customers: list[str]) -> dict[str, datetime]:
        rows = select_in(db, f"SELECT customer_id, contact_at FROM {self.last_table}"
                             " WHERE customer_id IN ({ids})", customers)
        return {r["customer_id"]: from_micros(r["contact_at"]) for r in rows}

    def _rows(self, db: SqlCursor, customers: Sequence[str], where: str = "",
              params: Sequence[Any] = ()) -> list[Row]:
        return select_in(db, f"SELECT {', '.join(_COLUMNS)} FROM {self.table}"
                             f" WHERE customer_id IN ({{ids}}){where}", customers, after=params)

    # --- the clock ---------------------------------------------------------------------

    def check_due(self, now: datetime | None = None) -> int:
        """Raise the overdue alert of every task past its due time not yet alerted (open,
        or closed only after its due time); return how many. Nothing while a contact may
        still be on its way (see the module's docstring)."""
        now = now or self.clock()
        if not self._heard_everything():
            return 0
        with self.views.write() as db:
            db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {self.table} WHERE alerted = 0"
                       " AND due_at < %s AND (closed_at IS NULL OR closed_at > due_at)",
                       [to_micros(now)])
            due = [_task(row) for row in db.fetchall() if self.customers.owns(row["customer_id"])]
            if not due:
                return 0
            self.alert_book.raise_alerts(db, [overdue_alert(t) for t in due])
            db.executemany(f"UPDATE {self.table} SET alerted = 1 WHERE task_id = %s",
                           [(t.task_id,) for t in due])
        return len(due)

    def _heard_everything(self) -> bool:
        stored = self.history.recorder.max_notification_id() or 0
        return self.history.caught_up() and (self.views.position(self.name) or 0) >= stored

    # --- queries -----------------------------------------------------------------------

    def open_tasks(self, db: SqlCursor, customers: Sequence[str] | None = None,
                   limit: int = 500) -> list[FollowUp]:
        """Open tasks, soonest due first (ties by customer id), of ``customers`` (None:
        everyone's)."""
        order = " ORDER BY due_at, customer_id, task_id"
        if customers is None:
            db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {self.table}"
                       f" WHERE closed_at IS NULL{order} LIMIT %s", [limit])
            return [_task(row) for row in db.fetchall()]
        rows = self._rows(db, customers, " AND closed_at IS NULL")
        return sorted(map(_task, rows), key=lambda t: (t.due_at, t.customer_id, t.task_id))[:limit]

    def tasks(self, db: SqlCursor, customers: Iterable[str], as_of: datetime) -> list[FollowUp]:
        """The tasks of ``customers`` opened by ``as_of`` (their state then is the task's
        ``is_open(as_of)``), newest first."""
        rows = self._rows(db, list(customers), " AND opened_at <= %s", [to_micros(as_of)])
        return sorted(map(_task, rows), key=lambda t: (t.opened_at, t.task_id), reverse=True)

    def drop_tables(self, db: SqlCursor) -> None:
        for table in (self.table, self.last_table):
            db.execute(f"DROP TABLE IF EXISTS {table}")
