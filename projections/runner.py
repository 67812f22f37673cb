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

from eventsourcing.persistence import Notification, Tracking
from prometheus_client import Counter

from domain.facts import CustomerFact
from domain.history import CustomerHistory
from storage.views import SqlCursor, ViewDatabase

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("crm_projection_events_applied", "Facts applied to a read model "
                         "(tracking name, with its generation).", ["read_model"])
BATCHES_FAILED = Counter("crm_projection_batches_failed", "Batches a read model failed alone "
                         "(it is retried after a pause).", ["read_model"])


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


class ProjectionFailed(RuntimeError):
    """A read model failed a batch while catching up; the others went on."""


class Projector:
    """Keeps read models up to date with the customer history, a batch per ``step``.

    Read models stepped together share each batch: it is read and decoded once
    (once per need of personal data), and applied to every model in one
    transaction with every model's tracking record. If that fails, each model
    is tried alone, and one that fails alone is left out for ``retry_seconds``:
    it holds up only itself. Each model is given only the events past its own
    position, so a model that fell behind catches up and then shares again.
    """

    def __init__(
        self,
        history: CustomerHistory,
        views: ViewDatabase,
        read_models: ReadModel | Sequence[ReadModel],
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.1,
        retry_seconds: float = 5.0,
    ) -> None:
        self.history = history
        self.views = views
        self.read_models = list(read_models) if isinstance(read_models, Sequence) else [read_models]
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self._failed: dict[str, float] = {}  # read model name -> when to try it again
        for read_model in self.read_models:
            read_model.create_tables(views)

    @property
    def read_model(self) -> ReadModel:
        """The read model of a projector that steps just one."""
        (read_model,) = self.read_models
        return read_model

    @property
    def position(self) -> int:
        """How far every read model has read the store."""
        return min(self.positions().values())

    def positions(self) -> dict[str, int]:
        return {m.name: self.views.position(m.name) or 0 for m in self.read_models}

    def step(self) -> int:
        """Apply the next batch, if any; return how many events it held."""
        now = time.monotonic()
        active = [m for m in self.read_models if self._failed.get(m.name, 0.0) <= now]
        if not active:
            return 0
        positions = self.positions()
        notifications = self.history.recorder.select_notifications(
            start=min(positions[m.name] for m in active), limit=self.batch_size,
            inclusive_of_start=False,
        )
        if not notifications:
            return 0
        last = notifications[-1].id
        due = [m for m in active if positions[m.name] < last]
        batches = self._batches(notifications, due, positions)
        try:
            with self.views.write(*[Tracking(m.name, last) for m in due]) as cursor:
                for read_model in due:
                    read_model.apply(cursor, batches[read_model.name])
            for read_model in due:
                self._failed.pop(read_model.name, None)
                EVENTS_APPLIED.labels(read_model.name).inc(len(batches[read_model.name]))
        except Exception:
            if len(self.read_models) == 1:
                raise
            if len(due) > 1:
                log.exception("a batch failed for %s together; applying it to each alone",
                              ", ".join(m.name for m in due))
            for read_model in due:
                try:
                    with self.views.write(Tracking(read_model.name, last)) as cursor:
                        read_model.apply(cursor, batches[read_model.name])
                    self._failed.pop(read_model.name, None)
                    EVENTS_APPLIED.labels(read_model.name).inc(len(batches[read_model.name]))
                except Exception:
                    BATCHES_FAILED.labels(read_model.name).inc()
                    log.exception("projection %s failed a batch; trying again in %g s",
                                  read_model.name, self.retry_seconds)
                    self._failed[read_model.name] = time.monotonic() + self.retry_seconds
        return len(notifications)

    def _batches(self, notifications: Sequence[Notification], read_models: Sequence[ReadModel],
                 positions: dict[str, int]) -> dict[str, list[Positioned]]:
        """Each model's facts: of its types (the rest are skipped before decoding; their
        positions still count) and past its position, decoded once per personal-data need."""
        batches: dict[str, list[Positioned]] = {}
        for personal in (True, False):
            group = [m for m in read_models if getattr(m, "reads_personal_data", True) is personal]
            if not group:
                continue
            topics = [set(getattr(m, "topics", ())) for m in group]
            wanted = [n for n in notifications if any(not t or n.topic in t for t in topics)]
            facts = self.history.facts_of(wanted, personal_data=personal)
            for read_model, types in zip(group, topics, strict=True):
                after = positions[read_model.name]
                batches[read_model.name] = [
                    Positioned(n.id, fact) for n, fact in zip(wanted, facts, strict=True)
                    if n.id > after and (not types or n.topic in types)
                ]
        return batches

    def catch_up(self) -> int:
        """Apply everything stored so far; return how many events that was. Raises
        ``ProjectionFailed`` if a read model could not follow."""
        total, positions = 0, self.positions()
        while count := self.step():
            total += count
            before, positions = positions, self.positions()
            if self._failed and positions == before:
                break  # only failing models left behind: trying again now would fail again
        self.raise_failures()
        return total

    def raise_failures(self) -> None:
        """Raise ``ProjectionFailed`` if a read model is left out after failing a batch."""
        if self._failed:
            raise ProjectionFailed(f"{', '.join(sorted(self._failed))} failed a batch (logged)")


class ProjectionLoop:
    """Steps every read model together (one shared batch at a time, see ``Projector``), in
    one thread, plus periodic work (the SLA clock).

    One writer at a time is all SQLite allows, and enough for PostgreSQL: the
    work is in the database and in Python, not in waiting. A failing batch is
    logged and tried again; the other read models go on meanwhile.
    """

    def __init__(
        self,
        history: CustomerHistory,
        views: ViewDatabase,
        read_models: Sequence[ReadModel],
        *,
        batch_size: int,
        poll_seconds: float,
        periodic: Sequence[tuple[float, Callable[[], object]]] = (),
        more: Callable[[], Sequence[ReadModel]] = list,
    ) -> None:
        self.history = history
        self.views = views
        self.read_models = read_models
        self.more = more  # read models whose set may change while running (report generations)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.periodic = list(periodic)
        self._projector: Projector | None = None

    def projector(self) -> Projector:
        """One projector over every read model, made again when the set changes (a swap)."""
        models = [*self.read_models, *self.more()]
        if self._projector is None or self._projector.read_models != models:
            self._projector = Projector(self.history, self.views, models,
                                        batch_size=self.batch_size)
            for name, position in self._projector.positions().items():
                log.info("projection %s following from position %d", name, position)
        return self._projector

    def run(self, stop: threading.Event) -> None:
        next_due = [time.monotonic() + every for every, _ in self.periodic]
        while not stop.is_set():
            progressed = False
            try:
                progressed = bool(self.projector().step())
            except Exception:
                log.exception("projections failed a batch; retrying")
            for index, (every, task) in enumerate(self.periodic):
                if time.monotonic() >= next_due[index]:
                    next_due[index] = time.monotonic() + every
                    try:
                        task()
                    except Exception:
                        log.exception("periodic %s failed; retrying", getattr(task, "__name__", task))
            if not progressed:
                stop.wait(self.poll_seconds)
