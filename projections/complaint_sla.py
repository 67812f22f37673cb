"""Complaint SLA: deadlines of every complaint, and the clock that finds them passed.

Two ways a verdict (breach or at-risk) is found, both raising alerts through
the alert book in the same transaction as the state they come from:

* ``apply``: a batch of complaint facts refolds each complaint it names and
  judges it as of now (a late response is a breach at once);
* ``check_due``: the SLA clock, every few seconds, judges the complaints whose
  next moment (an at-risk point or a deadline) has passed with no event at all.

``complaint_clocks.next_check`` holds each open complaint's next moment, so the
clock reads only the complaints that are due. ``complaint_customers_heard``
holds each customer's latest event time, so a complaint is replayed from its
customer's complaint facts alone, not from the whole stream (a busy customer's
contacts and orders would make every judgement cost more). Those facts are kept
between batches, by complaint (``ComplaintFacts``): a batch reads only what was
recorded since, and replays only the complaints it names, so a customer with
thousands of complaints costs no more per batch than one with a few. When the policy
book targets segments or tiers, the customer's account facts (segment) or orders,
contacts and surveys (tier) are read and kept with them (``domain/sla_standing.py``);
otherwise none. The clock is injected, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from domain.alerts import sla_alert
from domain.complaints import Complaint, record_complaint_fact
from domain.customer360 import by_event_time
from domain.facts import FACT_CLASSES, CustomerFact, stored_topic
from domain.sla_policy import PolicyBook
from domain.sla_standing import StandingFold, standing_types
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.generation import Generation
from projections.kept import KeptPerCustomer
from projections.runner import Positioned
from projections.set_aside import SetAsideBook, Unfolded, feed_each
from schemas.text import printable
from storage.errors import explain, is_data_fault
from storage.views import Row, SqlCursor, ViewDatabase, select_in, to_micros

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_A_MOMENT = timedelta(microseconds=1)
_COMPLAINT_TOPICS = tuple(stored_topic(t) for t in FACT_CLASSES if t.startswith("crm.complaint."))
#: Columns added after the first release: each open complaint's next deadline (the queue's).
_DEADLINE_COLUMNS = {"deadline": "TEXT", "due_at": "BIGINT"}
#: Customers whose complaint facts are kept between batches (the least recent go first).
KEPT_CUSTOMERS = 2_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_deadline(complaint: Complaint) -> tuple[str, datetime] | None:
    """The deadline an agent works to next: the first response until there is one, then
    the resolution (while paused, its due time as it stood at the pause); None once
    resolved."""
    if not complaint.is_open:
        return None
    for name in ("first_response", "resolution"):
        current = [d for d in complaint.deadlines if d.name == name][-1]
        if current.open:
            return name, current.due
    return None


class ComplaintFacts:
    """Each customer's complaint facts by complaint id, kept between batches.

    Kept is what the store holds, never what a view holds, so a rolled-back batch
    leaves nothing wrong here: a customer is read past the last version kept, and
    facts once recorded never change. No personal field is read (the clock needs
    none), so an erasure has nothing here to reach.
    """

    def __init__(self, history: CustomerHistory, capacity: int = KEPT_CUSTOMERS,
                 targeting: frozenset[str] = frozenset()) -> None:
        self.history = history
        self.capacity = capacity
        self.targeting = targeting
        self._topics = _COMPLAINT_TOPICS + tuple(
            sorted(stored_topic(t) for t in standing_types(targeting)))
        self._kept: KeptPerCustomer[tuple[int, dict[str, list[CustomerFact]], StandingFold]] = (
            KeptPerCustomer(capacity))

    def of(self, customers: Sequence[str]) -> dict[str, dict[str, list[CustomerFact]]]:
        """Complaint id -> its facts (recording order), for each customer."""
        after = {c: self._kept[c][0] for c in customers if c in self._kept}
        news = self.history.customers_facts(customers, self._topics, after,
                                            personal_data=False)
        found = {}
        for customer in customers:
            seen, by_complaint, standing = self._kept.get(
                customer, (0, {}, StandingFold(self.targeting)))
            for fact in news[customer]:
                if fact.event_type.startswith("crm.complaint."):
                    by_complaint.setdefault(fact.data.get("complaint_id"), []).append(fact)
                else:
                    standing.note(fact)
                seen = max(seen, fact.originator_version)
            self._kept.keep(customer, (seen, by_complaint, standing))
            found[customer] = by_complaint
        return found

    def standing(self, customer: str) -> StandingFold | None:
        """The customer's standing facts as of its last ``of`` (None: the book targets none)."""
        return self._kept[customer][2] if self.targeting else None


class ComplaintSlaProjection:
    """The clocks of every complaint (of one shard's customers: ``customers``), and the
    judgements that raise SLA alerts."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, book: PolicyBook,
                 generation: Generation, clock: Clock = utc_now) -> None:
        self.name = generation.tracking_name
        self.customers = generation.shard
        self.history = history
        self.views = views
        self.book = book
        self.clock = clock
        self.alert_book = AlertBook(views)
        self.set_aside = SetAsideBook(views)
        self.table = views.table("complaint_clocks")
        self.heard_table = views.table("complaint_customers_heard")
        self.complaint_facts = ComplaintFacts(history, targeting=book.targeting)

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " complaint_id TEXT PRIMARY KEY,"
            " customer_id TEXT NOT NULL,"
            " priority TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " next_check BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {self.heard_table} ("
            " customer_id TEXT PRIMARY KEY, heard BIGINT NOT NULL, heard_time TEXT NOT NULL)",
        ])
        views.add_columns("complaint_clocks", _DEADLINE_COLUMNS)
        with views.write() as db:  # rows judged before the columns existed: judge them again
            db.execute(f"UPDATE {self.table} SET next_check = 0"
                       " WHERE status = 'open' AND due_at IS NULL")

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        latest: dict[str, datetime] = {}
        for item in batch:
            fact = item.fact
            if fact.occurred_at > latest.get(fact.customer_id, fact.occurred_at - _A_MOMENT):
                latest[fact.customer_id] = fact.occurred_at
        cursor.executemany(
            f"INSERT INTO {self.heard_table} (customer_id, heard, heard_time) VALUES (%s, %s, %s)"
            " ON CONFLICT (customer_id) DO UPDATE SET heard = excluded.heard,"
            f" heard_time = excluded.heard_time WHERE excluded.heard > {self.heard_table}.heard",
            [(c, to_micros(at), at.isoformat()) for c, at in latest.items()],
        )
        named = {
            item.fact.data["complaint_id"]: item.fact.customer_id
            for item in batch
            if item.fact.event_type.startswith("crm.complaint.")
        }
        if named:
            unfolded: list[Unfolded] = []
            self._judge(cursor, named, self.clock(), unfolded)
            self.set_aside.set_aside_unfolded(cursor, self.name,
                                              {i.fact.event_id: i.position for i in batch},
                                              unfolded)

    def check_due(self, now: datetime | None = None) -> int:
        """Judge every complaint whose next moment has passed; return how many.

        A complaint that cannot be judged for its data's sake is left off the clock (its
        next check cleared, logged) so it does not hold up the others; its next fact
        judges it again, and is set aside if that fails too."""
        now = now or self.clock()
        with self.views.read() as db:
            db.execute(
                f"SELECT complaint_id, customer_id FROM {self.table}"
                " WHERE next_check IS NOT NULL AND next_check <= %s",
                [to_micros(now)],
            )
            due = {row["complaint_id"]: row["customer_id"] for row in db.fetchall()
                   if self.customers.owns(row["customer_id"])}
        if not due:
            return 0
        try:
            with self.views.write() as db:
                self._judge(db, due, now)
        except Exception as error:
            if not is_data_fault(error):
                raise
            for complaint_id, customer_id in due.items():
                self._judge_alone(complaint_id, customer_id, now)
        return len(due)

    def _judge_alone(self, complaint_id: str, customer_id: str, now: datetime) -> None:
        try:
            with self.views.write() as db:
                self._judge(db, {complaint_id: customer_id}, now)
        except Exception as error:
            if not is_data_fault(error):
                raise
            log.error("the SLA clock cannot judge complaint %s of %s and leaves it until its "
                      "next fact: %s", printable(complaint_id), printable(customer_id),
                      explain(error), exc_info=error)
            with self.views.write() as db:
                db.execute(f"UPDATE {self.table} SET next_check = NULL WHERE complaint_id = %s",
                           [complaint_id])

    def _judge(self, db: SqlCursor, complaints: dict[str, str], now: datetime,
               unfolded: list[Unfolded] | None = None) -> None:
        """Judge as of ``now``; while ingestion is behind, only up to each customer's
        latest recorded event: what happened before it is all heard, since a
        customer's events arrive in order, but later answers may still be on their way.
        """
        customers = sorted(set(complaints.values()))
        facts = self.complaint_facts.of(customers)
        caught_up = self.history.caught_up()
        heard_by = {} if caught_up else self._heard(db, customers)
        rows, alerts = [], []
        for complaint_id, customer_id in complaints.items():
            complaint = self._replay(complaint_id, facts[customer_id].get(complaint_id, []),
                                     [] if unfolded is None else unfolded,
                                     self.complaint_facts.standing(customer_id))
            if complaint is None:
                continue
            heard = now if caught_up else min(now, heard_by[customer_id])
            alerts += [sla_alert(customer_id, v) for v in complaint.verdicts(heard)]
            next_moment = complaint.next_moment(heard)
            deadline = next_deadline(complaint)
            rows.append((complaint_id, customer_id, complaint.priority,
                         "open" if complaint.is_open else "resolved",
                         to_micros(next_moment) if next_moment else None,
                         deadline[0] if deadline else None,
                         to_micros(deadline[1]) if deadline else None))
        db.executemany(
            f"INSERT INTO {self.table} (complaint_id, customer_id, priority, status, next_check,"
            " deadline, due_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (complaint_id) DO UPDATE SET"
            " customer_id = excluded.customer_id, priority = excluded.priority,"
            " status = excluded.status, next_check = excluded.next_check,"
            " deadline = excluded.deadline, due_at = excluded.due_at",
            rows,
        )
        self.alert_book.raise_alerts(db, alerts)

    def open_deadlines(self, db: SqlCursor, customers: Sequence[str] | None = None,
                       limit: int = 500) -> list[Row]:
        """Open complaints by their next deadline, soonest first (ties by customer id), of
        ``customers`` (None: everyone's): ``complaint_id``, ``customer_id``, ``priority``,
        ``deadline`` (``first_response`` or ``resolution``) and ``due_at`` (micros)."""
        select = ("SELECT complaint_id, customer_id, priority, deadline, due_at"
                  f" FROM {self.table} WHERE status = 'open' AND due_at IS NOT NULL")
        order = " ORDER BY due_at, customer_id, complaint_id LIMIT %s"
        if customers is None:
            db.execute(select + order, [limit])
            return db.fetchall()
        rows = select_in(db, f"{select} AND customer_id IN ({{ids}}){order}", customers,
                         after=[limit])
        rows.sort(key=lambda r: (r["due_at"], r["customer_id"], r["complaint_id"]))
        return rows[:limit]

    def _heard(self, db: SqlCursor, customers: list[str]) -> dict[str, datetime]:
        """Each customer's latest event time (recorded facts, all types)."""
        heard = {row["customer_id"]: datetime.fromisoformat(row["heard_time"])
                 for row in select_in(db, f"SELECT customer_id, heard_time FROM"
                                          f" {self.heard_table} WHERE customer_id IN ({{ids}})",
                                      customers)}
        missing = [c for c in customers if c not in heard]  # a store older than this table
        for customer, facts in self.history.customers_facts(missing).items():
            heard[customer] = max(f.occurred_at for f in facts)
        return heard

    def _replay(self, complaint_id: str, facts: list[CustomerFact], unfolded: list[Unfolded],
                standing: StandingFold | None = None) -> Complaint | None:
        """The complaint from its facts (``ComplaintFacts``); one its rules cannot take is
        skipped (``unfolded``), so it does not fail every later fact of the complaint too."""
        complaints: dict[str, Complaint] = {}
        feed_each(by_event_time(facts),
                  lambda fact: record_complaint_fact(complaints, fact, self.book, standing),
                  unfolded)
        return complaints.get(complaint_id)
