"""Follows the customer history and applies it to a read model, batch by batch.

Each batch of stored events and the position of its last event are written in
one transaction (``ViewDatabase.write``), so a projector killed at any instant
resumes from the last committed position without counting anything twice. It
polls rather than subscribes so the same loop serves PostgreSQL and SQLite
(which has no ``subscribe()``); the poll pause applies only once caught up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Tracking

from domain.facts import CustomerFact
from domain.history import CustomerHistory
from storage.views import SqlCursor, ViewDatabase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Positioned:
    """A stored fact with its position in the history (ties in event time break by it)."""

    position: int
    fact: CustomerFact


class ReadModel(Protocol):
    """A projection: its name (the tracking name), tables and how a batch changes them."""

    name: str
    topics: tuple[str, ...]  # stored topics it reads (optional attribute); empty: every fact
    reads_personal_data: bool  # optional attribute, default True; False: personal fields null

    def create_tables(self, views: ViewDatabase) -> None: ...

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None: ...


class Projector:
    """Keeps one read model up to date with the customer history, a batch per ``step``."""

    def __init__(
        self,
        history: CustomerHistory,
        views: ViewDatabase,
        read_model: ReadModel,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.1,
    ) -> None:
        self.history = history
        self.views = views
        self.read_model = read_model
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        read_model.create_tables(views)

    @property
    def position(self) -> int:
        return self.views.position(self.read_model.name) or 0

    def step(self) -> int:
        """Apply the next batch, if any; return how many events it held."""
        notifications = self.history.recorder.select_notifications(
            start=self.position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        # Facts of other types are skipped before decoding, but their positions still
        # count: the tracked position says how far the store has been read.
        topics = getattr(self.read_model, "topics", ())
        wanted = [n for n in notifications if not topics or n.topic in topics]
        facts = self.history.facts_of(
            wanted, personal_data=getattr(self.read_model, "reads_personal_data", True))
        batch = [Positioned(n.id, fact) for n, fact in zip(wanted, facts, strict=True)]
        with self.views.write(Tracking(self.read_model.name, notifications[-1].id)) as cursor:
            self.read_model.apply(cursor, batch)
        return len(notifications)

    def catch_up(self) -> int:
        """Apply everything stored so far; return how many events that was."""
        total = 0
        while count := self.step():
            total += count
        return total


class ProjectionLoop:
    """Steps every read model in turn, in one thread, plus periodic work (the SLA clock).

    One writer at a time is all SQLite allows, and enough for PostgreSQL: the
    work is in the database and in Python, not in waiting. A failing batch is
    logged and tried again; the other read models go on meanwhile.
    """

    def __init__(
        self,
        projectors: Sequence[Projector],
        *,
        poll_seconds: float,
        periodic: Sequence[tuple[float, Callable[[], object]]] = (),
        more: Callable[[], Sequence[Projector]] = list,
    ) -> None:
        self.projectors = projectors
        self.more = more  # read models whose set may change while running (report generations)
        self.poll_seconds = poll_seconds
        self.periodic = list(periodic)

    def run(self, stop: threading.Event) -> None:
        for projector in self.projectors:
            log.info("projection %s following from position %d",
                     projector.read_model.name, projector.position)
        next_due = [time.monotonic() + every for every, _ in self.periodic]
        while not stop.is_set():
            progressed = False
            for projector in [*self.projectors, *self.more()]:
                try:
                    progressed |= bool(projector.step())
                except Exception:
                    log.exception("projection %s failed a batch; retrying",
                                  projector.read_model.name)
            for index, (every, task) in enumerate(self.periodic):
                if time.monotonic() >= next_due[index]:
                    next_due[index] = time.monotonic() + every
                    try:
                        task()
                    except Exception:
                        log.exception("periodic %s failed; retrying", getattr(task, "__name__", task))
            if not progressed:
                stop.wait(self.poll_seconds)
