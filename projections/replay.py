"""Rebuilding reports, the customer 360 and the timeline from the first stored event,
beside the live ones, then swapping.

Each rebuildable read model has a live generation (what readers see and the
live loop keeps up to date) and, during a rebuild, a building one. ``replay``
folds the whole history into the building generation's fresh tables, resuming
where an interrupted build stopped (its tracking record says where), and swaps
it in with one transaction. The live loop notices the change and follows on
with the new generation from its position; the previous generation is dropped
a few seconds later (readers may still hold it for a second). It must not
linger: no process follows it, so an erasure request would never reach it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.customer360 import Policies
from history.customer_history import CustomerHistory
from projections.customer360 import Customer360Projection
from projections.reports import report_classes
from projections.reports.base import Doc, ReportProjection
from projections.runner import Projector
from projections.timeline import TimelineProjection
from storage.views import ViewDatabase

log = logging.getLogger(__name__)

#: How long a swapped-out generation stays readable: readers look the live one up each second.
RETIRE_AFTER_SECONDS = 5.0


class UnknownReadModel(KeyError):
    pass


CUSTOMER_360 = "customer360"
TIMELINE = "timeline"

Rebuildable = ReportProjection | Customer360Projection | TimelineProjection


class RebuildCatalog:
    """Which generation of each rebuildable read model is live, and which is being built."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policies: Policies) -> None:
        self.history = history
        self.views = views
        self.policies = policies
        self.reports = {name: cls(policies) for name, cls in report_classes().items()}
        self.names = [TIMELINE, CUSTOMER_360, *self.reports]
        self._live_cache: dict[str, tuple[float, Rebuildable]] = {}
        self.table = views.table("read_model_generations")
        views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " name TEXT PRIMARY KEY, live INTEGER NOT NULL, building INTEGER)"
        ])

    def generations(self, name: str) -> tuple[int, int | None]:
        if name not in self.names:
            raise UnknownReadModel(name)
        with self.views.read() as db:
            db.execute(f"SELECT live, building FROM {self.table} WHERE name = %s", [name])
            row = db.fetchone()
        return (row["live"], row["building"]) if row else (1, None)

    def projection(self, name: str, generation: int, *, create: bool = True) -> Rebuildable:
        projection: Rebuildable
        if name == CUSTOMER_360:
            projection = Customer360Projection(self.history, self.views, self.policies, generation)
        elif name == TIMELINE:
            projection = TimelineProjection(self.views, generation)
        else:
            projection = ReportProjection(self.reports[name], self.views, generation)
        if create:
            projection.create_tables(self.views)
        return projection

    def live(self, name: str) -> Rebuildable:
        """The live generation's read model; looked up again at most once a second."""
        checked, projection = self._live_cache.get(name, (0.0, None))  # type: ignore[assignment]
        if projection is None or time.monotonic() - checked > 1.0:
            live = self.generations(name)[0]
            if projection is None or projection.generation != live:
                projection = self.projection(name, live)
            self._live_cache[name] = (time.monotonic(), projection)
        return projection

    def read(self, name: str, generation: int | None = None) -> list[Doc]:
        projection = self.projection(name, generation or self.generations(name)[0])
        with self.views.read() as db:
            return projection.read(db)

    def start_build(self, name: str) -> int:
        """The generation to build: the one an interrupted build left, or a new one."""
        live, building = self.generations(name)
        if building is None:
            building = live + 1
            with self.views.write() as db:
                db.execute(
                    f"INSERT INTO {self.table} (name, live, building) VALUES (%s, %s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET building = excluded.building",
                    [name, live, building],
                )
        return building

    def swap(self, name: str, generation: int) -> None:
        with self.views.write() as db:
            db.execute(
                f"INSERT INTO {self.table} (name, live, building) VALUES (%s, %s, NULL)"
                " ON CONFLICT (name) DO UPDATE SET live = excluded.live, building = NULL",
                [name, generation],
            )


@dataclass
class Progress:
    """What a running or finished rebuild has done, for the progress bar and the API."""

    name: str
    generation: int
    total: int = 0
    done: int = 0
    state: str = "building"  # building, caught_up, swapped, failed
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def replay(catalog: RebuildCatalog, names: str | Sequence[str], *, swap: bool = True,
           batch_size: int = 2000,
           on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Build each named read model into a fresh generation from the first event, reading
    the store once for all of them; swap each in when caught up."""
    names = [names] if isinstance(names, str) else list(names)
    generations = {name: catalog.start_build(name) for name in names}
    projector = Projector(catalog.history, catalog.views,
                          [catalog.projection(name, g) for name, g in generations.items()],
                          batch_size=batch_size)
    progress = Progress(", ".join(names), max(generations.values()),
                        total=catalog.history.recorder.max_notification_id() or 0,
                        done=projector.position)
    while projector.step():
        progress.done = projector.position
        progress.total = max(progress.total, progress.done)
        if on_progress:
            on_progress(progress)
    projector.raise_failures()  # a generation that failed a batch is never swapped in
    progress.done = progress.total = max(progress.total, projector.position)
    progress.state = "caught_up"
    if swap:
        for name, generation in generations.items():
            catalog.swap(name, generation)
        progress.state = "swapped"
    if on_progress:
        on_progress(progress)
    return progress


@dataclass(frozen=True)
class Diff:
    added: list[Doc]
    removed: list[Doc]
    changed: list[tuple[Doc, Doc]]


def diff(catalog: RebuildCatalog, name: str) -> Diff:
    """What the building generation changes against the live one, by row."""
    live, building = catalog.generations(name)
    if building is None:
        raise ValueError(f"no rebuild of {name!r} waits to be swapped in; run it with --diff first")
    if name == CUSTOMER_360:
        key_columns = ["customer_id"]
    elif name == TIMELINE:
        key_columns = ["customer_id", "occurred_at", "event_id"]
    else:
        key_columns = [c for c in catalog.reports[name].columns
                       if c in ("month", "channel", "category", "cohort", "currency")]

    def keyed(rows: list[Doc]) -> dict[tuple, Doc]:
        return {tuple(row.get(c) for c in key_columns): row for row in rows}

    old, new = keyed(catalog.read(name, live)), keyed(catalog.read(name, building))
    return Diff(
        added=[new[k] for k in sorted(set(new) - set(old))],
        removed=[old[k] for k in sorted(set(old) - set(new))],
        changed=[(old[k], new[k]) for k in sorted(set(old) & set(new)) if old[k] != new[k]],
    )


def tier_changes(changes: Diff) -> list[tuple[str, str | None, str | None]]:
    """For the customer 360: (customer, tier before, tier after) where the tier differs."""
    return [(old["customer_id"], old["loyalty_tier"], new["loyalty_tier"])
            for old, new in changes.changed if old["loyalty_tier"] != new["loyalty_tier"]]


class LiveGenerations:
    """The live generation of every rebuildable read model, kept up to date by the loop.

    Checked about once a second: after a swap the new generation is followed
    from where its rebuild stopped.
    """

    def __init__(self, catalog: RebuildCatalog, names: Sequence[str] | None = None) -> None:
        self.catalog = catalog
        self.names = list(catalog.names if names is None else names)
        self._models: dict[str, Rebuildable] = {}
        self._retiring: list[tuple[float, str, int]] = []  # (when, name, generation) to drop
        self._checked = 0.0

    def read_models(self) -> list[Rebuildable]:
        if time.monotonic() - self._checked >= 1.0:
            self._checked = time.monotonic()
            for name in self.names:
                live, _ = self.catalog.generations(name)
                current = self._models.get(name)
                if current is not None and current.generation == live:
                    continue
                if current is not None:
                    log.info("%s: generation %d is live now", name, live)
                    self._retiring.append((time.monotonic() + RETIRE_AFTER_SECONDS, name, live - 1))
                elif live > 1:  # one a stopped loop had no time to drop
                    self._drop(name, live - 1)
                self._models[name] = self.catalog.projection(name, live)
            due = [r for r in self._retiring if r[0] <= time.monotonic()]
            for retired in due:
                self._retiring.remove(retired)
                self._drop(retired[1], retired[2])
        return list(self._models.values())

    def _drop(self, name: str, generation: int) -> None:
        with self.catalog.views.write() as db:
            self.catalog.projection(name, generation, create=False).drop_tables(db)
