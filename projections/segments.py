"""Segments: definitions kept as an append-only log, live membership, and its history.

Tables:

* ``segment_definitions``: every version of every segment, never changed (a retirement
  is a version without a rule), so history says what a segment meant when;
* ``segment_members``: who is in each segment now, since when, by which version;
* ``segment_changes``: every entry and exit, with why in words; it is also the outbox
  of the ``crm.segments`` topic (``published_at``), written in the transaction that
  changes the membership, so each change is published (at least once, always with its
  own ``change_id``: receivers drop repeats) and none is lost;
* ``segment_passes``: per segment, the version its members are judged by, the 360
  generation and position it has followed, and the pass in progress over every
  customer (a new version's build; a sweep after a rebuilt 360 is swapped in, or of a
  segment whose rule moves with the clock), with how far it has come.

``SegmentKeeper`` keeps membership live from the customer 360: rows the 360 rewrote
since it last looked (their ``revision``), and passes over everyone, a page per tick.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.segment_rules import Rule, customer_fields, parse_rule
from predictions.fitting import churn_risk, latest_churn_model
from predictions.model_book import ModelBook
from storage.codec import from_micros, to_micros
from storage.views import Row, SqlCursor, ViewDatabase

log = logging.getLogger(__name__)

#: Change ids are uuid5 of the segment, customer and the change's number in that pair.
_CHANGE_IDS = uuid.UUID("6f1d2c3e-5a4b-4c8d-9e0f-1a2b3c4d5e6f")


@dataclass(frozen=True)
class Definition:
    name: str
    version: int
    rule: Rule | None  # None: retired
    description: str
    defined_by: str
    defined_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "rule": self.rule.condition if self.rule else None,
                "timed": bool(self.rule and self.rule.timed), "retired": self.rule is None,
                "description": self.description, "defined_by": self.defined_by,
                "defined_at": self.defined_at.isoformat()}


class SegmentBook:
    """The segment tables and the queries that read and write them."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.definitions = views.table("segment_definitions")
        self.members = views.table("segment_members")
        self.changes = views.table("segment_changes")
        self.passes = views.table("segment_passes")

    def create_tables(self) -> None:
        self.views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.definitions} (name TEXT NOT NULL,"
            " version INTEGER NOT NULL, rule TEXT, description TEXT NOT NULL,"
            " defined_by TEXT NOT NULL, defined_at BIGINT NOT NULL, PRIMARY KEY (name, version))",
            f"CREATE TABLE IF NOT EXISTS {self.members} (segment TEXT NOT NULL,"
            " customer_id TEXT NOT NULL, version INTEGER NOT NULL, entered_at BIGINT NOT NULL,"
            " PRIMARY KEY (segment, customer_id))",
            f"CREATE TABLE IF NOT EXISTS {self.changes} (change_id TEXT PRIMARY KEY,"
            " segment TEXT NOT NULL, customer_id TEXT NOT NULL, seq BIGINT NOT NULL,"
            " entered BOOLEAN NOT NULL, at BIGINT NOT NULL, version INTEGER NOT NULL,"
            " message TEXT NOT NULL, published_at BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {self.passes} (segment TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL, kind TEXT, after_id TEXT, done BIGINT NOT NULL,"
            " total BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,"
            " swept_at BIGINT, revision BIGINT NOT NULL, generation INTEGER NOT NULL)",
        ])
        self.views.add_indexes("segment_changes", {
            "segment_changes_member": "segment, customer_id, seq",
            "segment_changes_time": "segment, at",
            "segment_changes_pending": "published_at",
        })

    # --- definitions ------------------------------------------------------------------

    def define(self, name: str, rule: Rule | None, description: str, by: str,
               at: datetime | None = None) -> Definition:
        """A new version of ``name`` (``rule`` None: retire it); its members are then judged
        again by it, over every customer, in the background."""
        at = at or datetime.now(UTC)
        with self.views.write() as db:
            db.execute(f"SELECT COALESCE(MAX(version), 0) AS v FROM {self.definitions}"
                       " WHERE name = %s", [name])
            version = int(db.fetchone()["v"]) + 1  # type: ignore[index]
            db.execute(f"INSERT INTO {self.definitions} (name, version, rule, description,"
                       " defined_by, defined_at) VALUES (%s, %s, %s, %s, %s, %s)",
                       [name, version, json.dumps(rule.condition) if rule else None,
                        description, by, to_micros(at)])
        return Definition(name, version, rule, description, by, at)

    def history(self, db: SqlCursor, name: str) -> list[Definition]:
        """Every version of ``name``, oldest first."""
        db.execute(f"SELECT * FROM {self.definitions} WHERE name = %s ORDER BY version", [name])
        return [_definition(row) for row in db.fetchall()]

    def current(self, db: SqlCursor) -> dict[str, Definition]:
        """The latest version of every segment, retired ones too."""
        db.execute(f"SELECT d.* FROM {self.definitions} d WHERE d.version ="
                   f" (SELECT MAX(version) FROM {self.definitions} e WHERE e.name = d.name)"
                   " ORDER BY d.name")
        return {row["name"]: _definition(row) for row in db.fetchall()}

    def defined_at(self, db: SqlCursor, name: str, moment: datetime) -> Definition | None:
        """The version of ``name`` in force at ``moment`` (None: not defined yet)."""
        db.execute(f"SELECT * FROM {self.definitions} WHERE name = %s AND defined_at <= %s"
                   " ORDER BY version DESC LIMIT 1", [name, to_micros(moment)])
        row = db.fetchone()
        return _definition(row) if row else None

    # --- membership -------------------------------------------------------------------

    def member_ids(self, db: SqlCursor, segment: str, customer_ids: Sequence[str]) -> set[str]:
        if not customer_ids:
            return set()
        db.execute(f"SELECT customer_id FROM {self.members} WHERE segment = %s AND customer_id"
                   f" IN ({', '.join(['%s'] * len(customer_ids))})", [segment, *customer_ids])
        return {row["customer_id"] for row in db.fetchall()}

    def page(self, db: SqlCursor, segment: str, *, as_of: datetime | None, after: str | None,
             limit: int) -> list[Row]:
        """Members in id order after ``after``: now, or as they stood at ``as_of`` (each
        customer's latest change by then is an entry)."""
        if as_of is None:
            db.execute(f"SELECT customer_id, entered_at, version FROM {self.members}"
                       " WHERE segment = %s AND customer_id > %s ORDER BY customer_id LIMIT %s",
                       [segment, after or "", limit])
            return db.fetchall()
        db.execute(
            f"SELECT c.customer_id, c.at AS entered_at, c.version FROM {self.changes} c"
            " WHERE c.segment = %s AND c.customer_id > %s AND c.at <= %s AND c.entered"
            f" AND NOT EXISTS (SELECT 1 FROM {self.changes} d WHERE d.segment = c.segment"
            "  AND d.customer_id = c.customer_id AND d.at <= %s AND d.seq > c.seq)"
            " ORDER BY c.customer_id LIMIT %s",
            [segment, after or "", to_micros(as_of), to_micros(as_of), limit])
        return db.fetchall()

    def size(self, db: SqlCursor, segment: str) -> int:
        db.execute(f"SELECT COUNT(*) AS n FROM {self.members} WHERE segment = %s", [segment])
        return int(db.fetchone()["n"])  # type: ignore[index]

    def counts(self, db: SqlCursor, segment: str, moments: Sequence[datetime]) -> list[int]:
        """Members at each of ``moments`` (entries minus exits by then)."""
        counts = []
        for moment in moments:
            db.execute(f"SELECT COALESCE(SUM(CASE WHEN entered THEN 1 ELSE -1 END), 0) AS n"
                       f" FROM {self.changes} WHERE segment = %s AND at <= %s",
                       [segment, to_micros(moment)])
            counts.append(int(db.fetchone()["n"]))  # type: ignore[index]
        return counts

    def change(self, db: SqlCursor, segment: Definition, customer_id: str, entered: bool,
               at: datetime, reasons: list[str]) -> None:
        """Record an entry or an exit: membership, history and outbox in one transaction."""
        db.execute(f"SELECT COALESCE(MAX(seq), 0) AS n FROM {self.changes}"
                   " WHERE segment = %s AND customer_id = %s", [segment.name, customer_id])
        seq = int(db.fetchone()["n"]) + 1  # type: ignore[index]
        change_id = str(uuid.uuid5(_CHANGE_IDS, f"{segment.name}\n{customer_id}\n{seq}"))
        kind = "crm.segment.entered" if entered else "crm.segment.exited"
        message = {"change_id": change_id, "type": kind, "segment": segment.name,
                   "version": segment.version, "customer_id": customer_id,
                   "at": at.isoformat(), "reasons": reasons}
        db.execute(f"INSERT INTO {self.changes} (change_id, segment, customer_id, seq, entered,"
                   " at, version, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                   [change_id, segment.name, customer_id, seq, entered, to_micros(at),
                    segment.version, json.dumps(message, sort_keys=True)])
        if entered:
            db.execute(f"INSERT INTO {self.members} (segment, customer_id, version, entered_at)"
                       " VALUES (%s, %s, %s, %s) ON CONFLICT (segment, customer_id) DO UPDATE"
                       " SET version = excluded.version",
                       [segment.name, customer_id, segment.version, to_micros(at)])
        else:
            db.execute(f"DELETE FROM {self.members} WHERE segment = %s AND customer_id = %s",
                       [segment.name, customer_id])

    # --- the outbox -------------------------------------------------------------------

    def pending(self, db: SqlCursor, limit: int) -> list[Row]:
        """Changes not yet published, in the order they happened, as (id, key, message)."""
        db.execute(f"SELECT change_id AS id, customer_id AS key, message FROM {self.changes}"
                   " WHERE published_at IS NULL ORDER BY at, seq LIMIT %s", [limit])
        return db.fetchall()

    def mark_published(self, db: SqlCursor, ids: Sequence[str], at: datetime) -> None:
        db.executemany(f"UPDATE {self.changes} SET published_at = %s WHERE change_id = %s",
                       [(to_micros(at), i) for i in ids])

    # --- passes -----------------------------------------------------------------------

    def passes_of(self, db: SqlCursor) -> dict[str, Row]:
        db.execute(f"SELECT * FROM {self.passes}")
        return {row["segment"]: row for row in db.fetchall()}

    def save_pass(self, db: SqlCursor, segment: str, **fields: Any) -> None:
        """Change the ``fields`` of the segment's pass; with every field, start one."""
        if "version" in fields:  # a new version: its pass row, whole
            columns = ["segment", *fields]
            updates = ", ".join(f"{c} = excluded.{c}" for c in fields)
            db.execute(f"INSERT INTO {self.passes} ({', '.join(columns)}) VALUES"
                       f" ({', '.join(['%s'] * len(columns))})"
                       f" ON CONFLICT (segment) DO UPDATE SET {updates}",
                       [segment, *fields.values()])
        else:
            db.execute(f"UPDATE {self.passes} SET {', '.join(f'{c} = %s' for c in fields)}"
                       " WHERE segment = %s", [*fields.values(), segment])


def _definition(row: Row) -> Definition:
    rule = parse_rule(json.loads(row["rule"])) if row["rule"] is not None else None
    return Definition(row["name"], row["version"], rule, row["description"], row["defined_by"],
                      from_micros(row["defined_at"]))


class SegmentKeeper:
    """Keeps every segment's membership up to date with the customer 360, a tick at a time.

    A tick judges (1) the customers whose 360 rows changed since the last tick, for
    every segment whose members are judged by its current version, then (2) a page of
    each pass in progress: a new version is judged over every customer (its *build*),
    and a segment whose rule moves with the clock is swept every ``sweep_seconds``.
    Only rows every projector shard has committed are read (``settled``).
    """

    def __init__(self, book: SegmentBook, customers: Any, models: ModelBook, *,
                 settled: Any, sweep_seconds: float = 900, page_size: int = 1000) -> None:
        """``customers``: a callable giving the live 360 projection; ``settled``: a callable
        giving the store position every shard of the live 360 has committed."""
        self.book, self.customers, self.models = book, customers, models
        self.settled, self.sweep_seconds, self.page_size = settled, sweep_seconds, page_size

    def tick(self, now: datetime | None = None) -> int:
        """One round; returns how many entries and exits it recorded."""
        now = now or datetime.now(UTC)
        with self.book.views.read() as db:
            definitions = self.book.current(db)
            passes = self.book.passes_of(db)
        settled, people = self.settled(), self.customers()
        judge = self._judge(now)
        changed = 0
        for name, definition in definitions.items():
            state = passes.get(name)
            why = self._pass_due(definition, state, people.generation, now)
            if why is not None:
                state = self._start_pass(definition, why, settled, people, now)
            changed += self._follow(definition, state, settled, judge, now)
            if state["kind"] is not None:
                changed += self._pass_page(definition, state, judge, now)
        return changed

    def _pass_due(self, definition: Definition, state: Row | None, generation: int,
                  now: datetime) -> str | None:
        """Why every customer must be judged again now (None: they need not be): a new
        version (``build``); a rebuilt 360 swapped in, whose rows the follower has not
        seen change, or a rule that moves with the clock, due for its sweep (``sweep``)."""
        if state is None or state["version"] != definition.version:
            return "build"
        if state["kind"] is not None:
            return None  # a pass is under way
        if state["generation"] != generation:
            return "sweep"
        timed = definition.rule is not None and definition.rule.timed
        if timed and now - from_micros(state["swept_at"]) >= timedelta(seconds=self.sweep_seconds):
            return "sweep"
        return None

    def _start_pass(self, definition: Definition, kind: str, settled: int, people: Any,
                    now: datetime) -> dict[str, Any]:
        with self.book.views.read() as db:
            total = people.count(db)
        state = {"version": definition.version, "kind": kind, "after_id": None, "done": 0,
                 "total": total, "started_at": to_micros(now), "finished_at": None,
                 "swept_at": to_micros(now), "revision": settled,
                 "generation": people.generation}
        with self.book.views.write() as db:
            self.book.save_pass(db, definition.name, **state)
        return state

    def _follow(self, definition: Definition, state: Any, settled: int, judge: Any,
                now: datetime) -> int:
        """Judge the customers whose 360 changed since the segment last looked."""
        if settled <= state["revision"]:
            return 0
        people = self.customers()
        changed = 0
        after = (state["revision"], "")
        while True:
            with self.book.views.read() as db:
                rows = people.changed_since(db, after, settled, self.page_size)
            changed += self._judge_rows(definition, rows, judge, now)
            if len(rows) < self.page_size:
                break
            after = (rows[-1]["revision"], rows[-1]["customer_id"])
        with self.book.views.write() as db:
            self.book.save_pass(db, definition.name, revision=settled)
        state["revision"] = settled
        return changed

    def _pass_page(self, definition: Definition, state: Any, judge: Any, now: datetime) -> int:
        people = self.customers()
        with self.book.views.read() as db:
            rows = people.rows_after(db, state["after_id"], self.page_size)
        changed = self._judge_rows(definition, rows, judge, now)
        done = state["done"] + len(rows)
        finished = len(rows) < self.page_size
        with self.book.views.write() as db:
            self.book.save_pass(db, definition.name, done=done,
                                after_id=rows[-1]["customer_id"] if rows else state["after_id"],
                                kind=None if finished else state["kind"],
                                finished_at=to_micros(now) if finished else None)
        if finished:
            log.info("segment %s v%d: %s over %d customers done", definition.name,
                     definition.version, state["kind"], done)
        return changed

    def _judge_rows(self, definition: Definition, rows: list[Row], judge: Any,
                    now: datetime) -> int:
        """Enter or exit each customer of ``rows`` as the definition says (a merged
        duplicate, or a retired segment: nobody is in it)."""
        if not rows:
            return 0
        ids = [row["customer_id"] for row in rows]
        with self.book.views.write() as db:
            members = self.book.member_ids(db, definition.name, ids)
            changed = 0
            for row in rows:
                belongs, reasons = False, ["the segment is retired"]
                if definition.rule is None:
                    pass
                elif row["merged_into"] is not None:
                    reasons = [f"merged into {row['merged_into']}"]
                else:
                    fields = judge(json.loads(row["document"]))
                    belongs = definition.rule.matches(fields)
                    reasons = definition.rule.explain(fields)
                if belongs != (row["customer_id"] in members):
                    self.book.change(db, definition, row["customer_id"], belongs, now, reasons)
                    changed += 1
        return changed

    def _judge(self, now: datetime) -> Any:
        """A customer's rule fields from its 360 document, churn risk by the latest model."""
        model = latest_churn_model(self.models, now)

        def fields(document: dict[str, Any]) -> dict[str, Any]:
            risk = churn_risk(model, document["customer_id"], document["orders"], now)
            return customer_fields(document, now, risk)

        return fields

    def run(self, stop: threading.Event, seconds: float) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("keeping segments failed; trying again")
            stop.wait(seconds)
