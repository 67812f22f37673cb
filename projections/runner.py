"""Follows the customer history and applies it to a read model, batch by batch.

Each batch of stored events and the position of its last event are written in
one transaction (``ViewDatabase.write``), so a projector killed at any instant
resumes from the last committed position without counting anything twice. It
polls rather than subscribes so the same loop serves PostgreSQL and SQLite
(which has no ``subscribe()``); the poll pause applies only once caught up.

No fact stops a read model: one it cannot apply is found by halving the batch
and set aside (``projections/set_aside.py``); the read model goes on with the
next. A failure of the database itself is retried after a capped backoff.
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
from history.customer_history import CustomerHistory
from projections.set_aside import SetAsideBook
from projections.shards import Shard
from storage.errors import RetryPacer, explain, is_data_fault
from storage.views import SqlCursor, ViewDatabase

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("crm_projection_events_applied", "Facts applied to a read model "
                         "(tracking name, with its generation).", ["read_model"])
BATCHES_FAILED = Counter("crm_projection_batches_failed", "Batches a read model failed alone "
                         "for the database's sake (retried after a pause).", ["read_model"])



@dataclass(frozen=True)
class Positioned:
    """A stored fact with its position in the history (ties in event time break by it)."""

    position: int
    fact: CustomerFact


class ReadModel(Protocol):
    """A projection: its name (the tracking name), tables and how a batch changes them.
    Every read model of the service is listed once, in ``projections/catalog.py``; its
    tables are made by the catalog (``create_tables``), never by a projector."""

    name: str
    topics: tuple[str, ...]  # stored topics it reads (optional attribute); empty: every fact
    reads_personal_data: bool  # optional attribute, default True; False: personal fields null
    customers: Shard | None  # optional: only facts of this shard's customers (skipped undecoded)

    def create_tables(self, views: ViewDatabase) -> None: ...

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None: ...

    # Optional: ``committed()``, called once the transaction of the last ``apply`` committed.


#: How often a projector looks for set-aside facts an operator asked to retry.
RETRY_CHECK_SECONDS = 2.0
#: Facts set aside in a row, with none applied between, after which a read model is taken
#: for broken rather than its facts for bad: it is paused instead of setting more aside.
MAX_SET_ASIDE_IN_A_ROW = 10


class ReadModelStuck(RuntimeError):
    """A read model failed too many facts in a row to blame the facts."""


class ProjectionFailed(RuntimeError):
    """A read model failed a batch while catching up; the others went on."""


class Projector:
    """Keeps read models up to date with the customer history, a batch per ``step``.

    Read models stepped together share each batch: it is read and decoded once
    (once per need of personal data), and applied to every model in one
    transaction with every model's tracking record. If that fails, each model
    is tried alone. A model failing alone for the data's sake has its batch
    halved until the facts at fault are found and set aside; one failing for
    the database's sake, or failing fact after fact (``MAX_SET_ASIDE_IN_A_ROW``),
    is left out for a while (``retry_seconds``, doubling to a minute): it holds
    up only itself. Each model is given only the events past
    its own position, so a model that fell behind catches up and then shares again.
    """

    def __init__(
        self,
        history: CustomerHistory,
        views: ViewDatabase,
        read_models: ReadModel | Sequence[ReadModel],
        *,
        batch_size: int = 500,
        retry_seconds: float = 5.0,
    ) -> None:
        self.history = history
        self.views = views
        self.read_models = list(read_models) if isinstance(read_models, Sequence) else [read_models]
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.set_aside = SetAsideBook(views)
        self._failed: dict[str, float] = {}  # read model name -> when to try it again
        self._pacers: dict[str, RetryPacer] = {}
        self._next_retry_check = 0.0
        self._set_aside_in_a_row: dict[str, int] = {}

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
        """Apply the next batch, if any; return how many events it held. Now and then, first
        apply the set-aside facts an operator asked to retry."""
        now = time.monotonic()
        if now >= self._next_retry_check:
            self._next_retry_check = now + RETRY_CHECK_SECONDS
            self.retry_set_aside()
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
                _committed(read_model)
                self._succeeded(read_model, len(batches[read_model.name]))
        except Exception as together:
            if len(due) > 1:
                log.warning("a batch failed for %s together (%s); applying it to each alone",
                            ", ".join(m.name for m in due), explain(together))
            for read_model in due:
                try:
                    self._apply_alone(read_model, batches[read_model.name], last)
                    self._succeeded(read_model, len(batches[read_model.name]))
                except Exception as error:
                    BATCHES_FAILED.labels(read_model.name).inc()
                    pacer = self._pacers.setdefault(read_model.name, RetryPacer(
                        f"projection {read_model.name}", log, first_pause=self.retry_seconds,
                        max_pause=max(60.0, self.retry_seconds)))
                    self._failed[read_model.name] = time.monotonic() + pacer.failed(error)
        return len(notifications)

    def _succeeded(self, read_model: ReadModel, applied: int) -> None:
        self._failed.pop(read_model.name, None)
        if read_model.name in self._pacers:
            self._pacers.pop(read_model.name).succeeded()
        EVENTS_APPLIED.labels(read_model.name).inc(applied)

    def _apply_alone(self, read_model: ReadModel, batch: Sequence[Positioned], last: int) -> None:
        """Apply ``batch`` to ``read_model`` alone and track it at ``last``. Failing for the
        data's sake, the batch is halved until the facts at fault are found; each is tried
        once more alone, then set aside. Other failures are raised."""
        try:
            self._write(read_model, batch, last)
            return
        except Exception as error:
            if not batch or not is_data_fault(error):
                raise
        if len(batch) > 1:
            middle = len(batch) // 2
            self._apply_alone(read_model, batch[:middle], batch[middle - 1].position)
            self._apply_alone(read_model, batch[middle:], last)
            return
        try:
            self._write(read_model, batch, last)  # once more: it may have met a passing state
        except Exception as error:
            if not is_data_fault(error):
                raise
            self._set_aside(read_model, batch[0], last, error)

    def _write(self, read_model: ReadModel, batch: Sequence[Positioned], last: int) -> None:
        with self.views.write(Tracking(read_model.name, last)) as cursor:
            read_model.apply(cursor, batch)
        _committed(read_model)
        if batch:
            self._set_aside_in_a_row.pop(read_model.name, None)

    def _set_aside(self, read_model: ReadModel, item: Positioned, last: int,
                   error: BaseException) -> None:
        in_a_row = self._set_aside_in_a_row.get(read_model.name, 0)
        if in_a_row >= MAX_SET_ASIDE_IN_A_ROW:
            raise ReadModelStuck(
                f"{read_model.name} failed {in_a_row + 1} facts in a row, with none applied "
                "between: taken for a broken read model, not bad facts, so it waits instead "
                "of setting more aside (crm-timeline projections set-aside list)") from error
        self._set_aside_in_a_row[read_model.name] = in_a_row + 1
        with self.views.write(Tracking(read_model.name, last)) as cursor:
            self.set_aside.set_aside(cursor, read_model.name, item.position, item.fact, error)

    def retry_set_aside(self) -> tuple[int, int]:
        """Apply again the set-aside facts whose retry was asked for; return how many now
        applied and how many failed again (those stay set aside with the new error)."""
        models = {m.name: m for m in self.read_models}
        with self.views.read() as db:
            wanted = self.set_aside.retries_requested(db, list(models))
        applied = failed = 0
        for name, position in wanted:
            model = models[name]
            notifications = self.history.recorder.select_notifications(start=position, limit=1)
            if not notifications or notifications[0].id != position:
                continue
            (fact,) = self.history.facts_of(
                notifications, personal_data=getattr(model, "reads_personal_data", True))
            try:
                with self.views.write() as cursor:
                    model.apply(cursor, [Positioned(position, fact)])
                    self.set_aside.resolve(cursor, name, position)
                applied += 1
                log.info("projection %s applied the set-aside fact at position %d", name, position)
            except Exception as error:
                if not is_data_fault(error):
                    raise
                with self.views.write() as cursor:
                    self.set_aside.failed_again(cursor, name, position, error)
                failed += 1
                log.error("projection %s could not apply the set-aside fact at position %d "
                          "again: %s", name, position, explain(error))
        return applied, failed

    def _batches(self, notifications: Sequence[Notification], read_models: Sequence[ReadModel],
                 positions: dict[str, int]) -> dict[str, list[Positioned]]:
        """Each model's facts: of its types and customers (the rest are skipped before
        decoding; their positions still count) and past its position, decoded once per
        personal-data need."""
        batches: dict[str, list[Positioned]] = {}
        for personal in (True, False):
            group = [m for m in read_models if getattr(m, "reads_personal_data", True) is personal]
            if not group:
                continue
            takes = [_takes(m) for m in group]
            owned = {shard: {n.id for n in notifications if shard.owns_stream(n.originator_id)}
                     for _, shard in takes if shard is not None}
            chosen = [{n.id for n in notifications
                       if (topics is None or n.topic in topics)
                       and (shard is None or n.id in owned[shard])} for topics, shard in takes]
            notes = [n for n in notifications if any(n.id in ids for ids in chosen)]
            facts = self.history.facts_of(notes, personal_data=personal)
            items = [Positioned(n.id, fact) for n, fact in zip(notes, facts, strict=True)]
            for read_model, ids in zip(group, chosen, strict=True):
                after = positions[read_model.name]
                batches[read_model.name] = [item for item in items
                                            if item.position > after and item.position in ids]
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


def _committed(read_model: ReadModel) -> None:
    """Tell a read model that keeps what it wrote (``committed``, optional) that its last
    ``apply`` committed; a rolled-back one is never told."""
    committed = getattr(read_model, "committed", None)
    if committed is not None:
        committed()


def _takes(read_model: ReadModel) -> tuple[frozenset[str] | None, Shard | None]:
    """What ``read_model`` takes of the stored events, judged without decoding them: the
    topics (None: every one) and the shard of customers (None: every customer)."""
    topics = frozenset(getattr(read_model, "topics", ())) or None
    shard: Shard | None = getattr(read_model, "customers", None)
    return topics, None if shard is None or shard.whole else shard


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
        following: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self.history = history
        self.views = views
        self.read_models = read_models
        self.more = more  # read models whose set may change while running (report generations)
        self.following = following  # the generations ``more`` follows, by read model
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
            positions = self._projector.positions()
            for name, position in positions.items():
                log.debug("projection %s following from position %d", name, position)
            if positions:
                log.info("following %d projections from positions %d to %d", len(positions),
                         min(positions.values()), max(positions.values()))
        return self._projector

    def run(self, stop: threading.Event) -> None:
        next_due = [time.monotonic() + every for every, _ in self.periodic]
        reading = RetryPacer("reading the history", log, first_pause=self.poll_seconds)
        tasks = [RetryPacer(f"periodic {getattr(task, '__name__', task)}", log)
                 for _, task in self.periodic]
        while not stop.is_set():
            progressed, pause = False, self.poll_seconds
            try:
                progressed = bool(self.projector().step())
                reading.succeeded()
            except Exception as error:  # the database is away: the projector could not read
                pause = reading.failed(error)
            for index, (every, task) in enumerate(self.periodic):
                if time.monotonic() >= next_due[index]:
                    try:
                        task()
                        tasks[index].succeeded()
                        next_due[index] = time.monotonic() + every
                    except Exception as error:
                        next_due[index] = time.monotonic() + max(every, tasks[index].failed(error))
            if not progressed:
                stop.wait(pause)
