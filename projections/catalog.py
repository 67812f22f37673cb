"""Every read model, once: its name, how one generation of it is built, which one is live.

Adding a read model is one module (its tables, how a batch changes them, its queries)
and one line in ``ReadModelCatalog._entries``; a report is one module in
``projections/reports/``, found by discovery, also by processes already running
(``discover``: the API serves it, and a loop following ``all`` builds it).
Everything that needs the list asks here: settings (``CRM_PROJECTIONS``), the
projection loop, replay, ``/reports``, status.

A read model that can be rebuilt has *generations*: the live one, which readers
see and the loop follows, and during a rebuild a building one, with tables and a
tracking name of its own (``Generation``). A rebuild (``projections/replay.py``)
fills the building generation from the first event and swaps it in with one
transaction; ``LiveGenerations`` follows the swap and drops the old one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from domain.customer360 import Policies
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.anomalies import AnomalyProjection
from projections.complaint_sla import ComplaintSlaProjection
from projections.customer360 import Customer360Projection
from projections.duplicates import DuplicateCandidates
from projections.follow_ups import DEFAULT_WAIT, FollowUpProjection
from projections.generation import Generation
from projections.generation_policies import GenerationPolicies
from projections.reports import report_classes
from projections.reports.base import Doc, Report, ReportProjection
from projections.runner import ReadModel
from projections.serving import ServingRegistry
from projections.set_aside import SetAsideBook
from projections.shards import EVERY_CUSTOMER, Shard
from projections.timeline import TimelineProjection
from storage.views import ViewDatabase

log = logging.getLogger(__name__)

TIMELINE = "timeline"
CUSTOMER_360 = "customer360"
COMPLAINT_SLA = "complaint_sla"
ANOMALIES = "anomalies"
DUPLICATES = "duplicates"
FOLLOW_UPS = "follow_ups"
#: How long a swapped-out generation stays readable: readers look the live one up each second.
RETIRE_AFTER_SECONDS = 5.0
#: How often a running process looks for report modules deployed since it started.
DISCOVER_SECONDS = 2.0


class UnknownReadModel(KeyError):
    """No read model has this name; the message lists those there are."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    name: str
    title: str
    kind: Literal["read_model", "report"]
    build: Callable[[Generation], ReadModel]
    rebuildable: bool = True  # False: one generation for ever (its alerts, once raised, stay)


class ReadModelCatalog:
    """The read models of this deployment, their generations, and their tables."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policies: Policies,
                 shard: Shard = EVERY_CUSTOMER,
                 generation_policies: GenerationPolicies | None = None,
                 follow_up_wait: timedelta = DEFAULT_WAIT) -> None:
        """``policies``: this process's own; the 360 is built and read with those of its
        generation (``generation_policies``; default: always this process's).
        ``follow_up_wait``: when a follow-up promised without a time is due."""
        self.follow_up_wait = follow_up_wait
        self.history = history
        self.views = views
        self.policies = policies
        self.generation_policies = generation_policies or GenerationPolicies(views, policies)
        self.shard = shard  # the customers this process's projections keep
        self.reports = {name: cls(policies) for name, cls in report_classes().items()}
        self.alert_book = AlertBook(views)
        self.set_aside = SetAsideBook(views)
        self._entries = {entry.name: entry for entry in self._declared()}
        self._live_cache: dict[str, tuple[float, ReadModel]] = {}
        self._discovered = time.monotonic()
        self.table = views.table("read_model_generations")
        self.serving = ServingRegistry(views)

    def _declared(self) -> list[Entry]:
        history, views, policies = self.history, self.views, self.policies
        return [
            Entry(TIMELINE, "Customer timelines", "read_model",
                  lambda g: TimelineProjection(views, self.alert_book, g)),
            Entry(CUSTOMER_360, "Customer 360 view", "read_model",
                  lambda g: Customer360Projection(
                      history, views, self.generation_policies.of(CUSTOMER_360, g.number), g)),
            Entry(COMPLAINT_SLA, "Complaint SLA clocks", "read_model",
                  lambda g: ComplaintSlaProjection(history, views, policies.sla, g),
                  rebuildable=False),
            Entry(ANOMALIES, "Anomaly and fraud flags", "read_model",
                  lambda g: AnomalyProjection(history, views, policies.anomaly, g),
                  rebuildable=False),
            Entry(DUPLICATES, "Duplicate candidates", "read_model",
                  lambda g: DuplicateCandidates(views, g)),
            Entry(FOLLOW_UPS, "Follow-up tasks", "read_model",
                  lambda g: FollowUpProjection(history, views, g, self.follow_up_wait),
                  rebuildable=False),
            *(self._report_entry(report) for report in self.reports.values()),
        ]

    def _report_entry(self, report: Report) -> Entry:
        return Entry(report.name, report.title, "report",
                     lambda g: ReportProjection(report, self.views, g))

    def discover(self) -> None:
        """Report modules deployed since this catalog was made: known from now on, their
        live generation's tables made (empty until a loop or a replay fills them). Looks
        at most once per ``DISCOVER_SECONDS`` (asking for unknown names is no way to make
        a process scan its disk)."""
        if time.monotonic() - self._discovered < DISCOVER_SECONDS:
            return
        self._discovered = time.monotonic()
        new = [cls(self.policies) for name, cls in report_classes(skip_broken=True).items()
               if name not in self.reports]
        for report in new:
            self.reports[report.name] = report
            self._entries[report.name] = self._report_entry(report)
            self.projection(report.name, self.generations(report.name)[0]).create_tables(self.views)
            log.info("report %s found (deployed since this process started)", report.name)

    def report(self, name: str) -> Report:
        """The report called ``name``, looking for newly deployed modules before saying
        ``UnknownReadModel``."""
        if name not in self.reports:
            self.discover()
        if name not in self.reports:
            raise UnknownReadModel(f"no report {name!r}; known: {', '.join(self.reports)}")
        return self.reports[name]

    # --- the list ----------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Every read model's name, reports last."""
        return list(self._entries)

    @property
    def rebuildable(self) -> list[str]:
        return [name for name, entry in self._entries.items() if entry.rebuildable]

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            self.discover()
        if name not in self._entries:
            raise UnknownReadModel(f"no read model called {name!r}; known: "
                                   f"{', '.join(self._entries)}")
        return self._entries[name]

    def chosen(self, selection: str) -> list[str]:
        """The names ``selection`` picks (``CRM_PROJECTIONS``: ``all``, or names separated by
        commas; ``-name`` leaves one out, as in ``all,-timeline``); ``UnknownReadModel``
        names what it does not know."""
        wanted = selection.split(",")
        unknown = [n for n in wanted if n.removeprefix("-") not in {"all", *self._entries}]
        if unknown:
            raise UnknownReadModel(f"no read model called {', '.join(unknown)}; known: all, "
                                   f"{', '.join(self._entries)} (-name leaves one out)")
        left_out = {n[1:] for n in wanted if n.startswith("-")}
        picked = self.names if "all" in wanted else [n for n in self.names if n in wanted]
        return [n for n in picked if n not in left_out]

    # --- generations -------------------------------------------------------------------

    def generations(self, name: str) -> tuple[int, int | None]:
        """(live, building) generation numbers of ``name``."""
        if not self.entry(name).rebuildable:
            return 1, None
        with self.views.read() as db:
            db.execute(f"SELECT live, building FROM {self.table} WHERE name = %s", [name])
            row = db.fetchone()
        return (row["live"], row["building"]) if row else (1, None)

    def live_generations(self) -> dict[str, int]:
        """The live generation of every rebuildable read model, in one query."""
        with self.views.read() as db:
            db.execute(f"SELECT name, live FROM {self.table}")
            stored = {row["name"]: row["live"] for row in db.fetchall()}
        return {name: stored.get(name, 1) for name in self.rebuildable}

    def projection(self, name: str, generation: int, shard: Shard | None = None) -> ReadModel:
        """Generation ``generation`` of read model ``name`` in ``shard`` (default: this
        process's), its tables perhaps not made yet."""
        entry = self.entry(name)
        tracking = f"report:{name}" if entry.kind == "report" else name
        return entry.build(Generation(tracking, generation, self.shard if shard is None else shard))

    def every_shard(self, name: str, generation: int) -> list[ReadModel]:
        """Generation ``generation`` of ``name`` in every shard of the split (a rebuild
        builds them all, so every shard's loop can follow on after the swap)."""
        return [self.projection(name, generation, shard) for shard in self.shard.siblings()]

    def live(self, name: str) -> ReadModel:
        """The live generation's read model; looked up again at most once a second."""
        checked, projection = self._live_cache.get(name, (0.0, None))  # type: ignore[assignment]
        if projection is not None and not self.entry(name).rebuildable:
            return projection
        if projection is None or time.monotonic() - checked > 1.0:
            live = self.generations(name)[0]
            if projection is None or projection.generation != live:  # type: ignore[attr-defined]
                projection = self.projection(name, live)
            self._live_cache[name] = (time.monotonic(), projection)
        return projection

    def read(self, name: str, generation: int | None = None, **window: str | None) -> list[Doc]:
        """The rows of a report or rebuildable read model, as its ``read`` gives them (a
        report's with its ``since``/``until`` ``window``)."""
        projection = self.projection(name, generation or self.generations(name)[0])
        with self.views.read() as db:
            return projection.read(db, **window)  # type: ignore[attr-defined, no-any-return]

    def start_build(self, name: str) -> int:
        """The generation to build (the one an interrupted build left, or a new one), with
        its tables made."""
        if not self.entry(name).rebuildable:
            raise UnknownReadModel(f"{name} is not rebuilt (its alerts, once raised, stay); "
                                   f"rebuildable: {', '.join(self.rebuildable)}")
        live, building = self.generations(name)
        if building is None:
            building = live + 1
            with self.views.write() as db:
                db.execute(
                    f"INSERT INTO {self.table} (name, live, building) VALUES (%s, %s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET building = excluded.building",
                    [name, live, building],
                )
        self.projection(name, building).create_tables(self.views)
        return building

    def swap(self, name: str, generation: int) -> None:
        with self.views.write() as db:
            db.execute(
                f"INSERT INTO {self.table} (name, live, building) VALUES (%s, %s, NULL)"
                " ON CONFLICT (name) DO UPDATE SET live = excluded.live, building = NULL",
                [name, generation],
            )

    def drop(self, name: str, generation: int) -> None:
        with self.views.write() as db:
            self.projection(name, generation).drop_tables(db)  # type: ignore[attr-defined]
        self.generation_policies.forget(name, generation)

    # --- tables ------------------------------------------------------------------------

    def create_tables(self) -> None:
        """Every table the read models keep, in their live generations, and the ones they
        share: the alert book with its outbox, the set-aside facts, the generations."""
        self.views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " name TEXT PRIMARY KEY, live INTEGER NOT NULL, building INTEGER)",
            *self.alert_book.create_statements(),
            *self.set_aside.create_statements(),
            *self.serving.create_statements(),
            *self.generation_policies.create_statements(),
        ])
        self.alert_book.create_indexes()
        for name in self.names:
            self.projection(name, self.generations(name)[0]).create_tables(self.views)

    def describe(self) -> list[dict[str, Any]]:
        """Each read model with its live and building generation and how far it has read
        the store, for ``/reports`` and ``status``."""
        self.discover()
        stored = self.history.recorder.max_notification_id() or 0
        described = []
        for name, entry in self._entries.items():
            live, building = self.generations(name)
            tracking = self.projection(name, live).name
            position = min(self.views.position(shard.name) or 0  # the slowest shard's
                           for shard in self.every_shard(name, live))
            described.append({"name": name, "kind": entry.kind, "title": entry.title,
                              "tracking_name": tracking, "rebuildable": entry.rebuildable,
                              "live_generation": live, "building_generation": building,
                              "position": position, "store_position": stored,
                              "caught_up": position >= stored})
        return described


class LiveGenerations:
    """The live generation of every chosen read model, as the projection loop follows them.

    Checked about once a second: after a swap the new generation is followed from where
    its rebuild stopped, and the old one is dropped a few seconds later (readers may
    still hold it for a second). It must not linger: no process follows it, so an
    erasure request would never reach it. With a ``selection`` (``CRM_PROJECTIONS``),
    a report module deployed while running joins when the selection picks it.
    """

    def __init__(self, catalog: ReadModelCatalog, names: Sequence[str],
                 selection: str | None = None) -> None:
        self.catalog = catalog
        self.names = list(names)
        self.selection = selection
        self._known = set(catalog.names)  # those deployed when this loop was made
        self._models: dict[str, ReadModel] = {}
        self._retiring: list[tuple[float, str, int]] = []  # (when, name, generation) to drop
        self._checked = 0.0

    def read_models(self) -> list[ReadModel]:
        if time.monotonic() - self._checked >= 1.0:
            self._checked = time.monotonic()
            if self.selection is not None:
                self.catalog.discover()
                new = [name for name in self.catalog.chosen(self.selection)
                       if name not in self._known]
                self._known.update(new)
                self.names += new
            for name in self.names:
                live, _ = self.catalog.generations(name)
                current = self._models.get(name)
                if current is not None and current.generation == live:  # type: ignore[attr-defined]
                    continue
                if current is not None:
                    log.info("%s: generation %d is live now", name, live)
                    self._retiring.append((time.monotonic() + RETIRE_AFTER_SECONDS, name, live - 1))
                elif live > 1:  # one a stopped loop had no time to drop
                    self.catalog.drop(name, live - 1)
                self._models[name] = self.catalog.projection(name, live)
            due = [r for r in self._retiring if r[0] <= time.monotonic()]
            for retired in due:
                self._retiring.remove(retired)
                self.catalog.drop(retired[1], retired[2])
        return list(self._models.values())

    def following(self) -> dict[str, int]:
        """The generation followed of each read model (for ``ServingRegistry``)."""
        return {name: model.generation  # type: ignore[attr-defined]
                for name, model in self._models.items()}
