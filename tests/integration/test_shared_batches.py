"""Read models stepped together share each batch; one failing model holds up only itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from eventsourcing.persistence import OperationalError

from domain.facts import ReportedFact
from history.arrivals import Arrival
from projections.runner import Positioned, ProjectionFailed, Projector
from service import runtime
from service.settings import SettingsError
from storage.views import SqlCursor, ViewDatabase
from tests.events import NOW
from tests.integration.conftest import Desk, wait_until

pytestmark = pytest.mark.integration


class Counter:
    """Counts the facts it is given, per event id, in a table of its own."""

    def __init__(self, views: ViewDatabase, name: str, topics: tuple[str, ...] = ()) -> None:
        self.name, self.topics = name, topics
        self.table = views.table(f"count_{name}")
        self.failing: Exception | None = None

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables([f"CREATE TABLE IF NOT EXISTS {self.table} (event_id TEXT PRIMARY KEY)"])

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        if self.failing is not None:
            raise self.failing
        cursor.executemany(f"INSERT INTO {self.table} (event_id) VALUES (%s)",
                           [(item.fact.event_id,) for item in batch])

    def ids(self, views: ViewDatabase) -> set[str]:
        with views.read() as db:
            db.execute(f"SELECT event_id FROM {self.table}")
            return {row["event_id"] for row in db.fetchall()}


def facts(first: int, count: int) -> list[tuple[str, int, ReportedFact]]:
    return [Arrival("test:feed", n, ReportedFact(
        f"e-{n}", "crm.contact.logged" if n % 2 else "crm.order.placed", "tests", f"C-{n % 7}",
        NOW, {"channel": "phone", "direction": "inbound"} if n % 2 else {"order_id": f"O-{n}"}))
        for n in range(first, first + count)]


def test_one_failing_model_falls_behind_alone_and_then_gets_only_what_it_missed(desk: Desk) -> None:
    everything = Counter(desk.views, "everything")
    contacts = Counter(desk.views, "contacts", topics=("domain.facts:ContactLogged",))
    flaky = Counter(desk.views, "flaky")
    for model in (everything, contacts, flaky):
        model.create_tables(desk.views)  # the catalog makes the service's; these are the test's
    projector = Projector(desk.history, desk.views, [everything, contacts, flaky], batch_size=7,
                          retry_seconds=0.3)
    desk.history.record(facts(0, 20))
    assert projector.catch_up() == 20
    flaky.failing = OperationalError("its database went away")  # not its facts' fault
    desk.history.record(facts(20, 20))
    with pytest.raises(ProjectionFailed, match="flaky"):
        projector.catch_up()
    assert len(everything.ids(desk.views)) == 40 and len(flaky.ids(desk.views)) == 20
    positions = projector.positions()
    assert positions["everything"] == positions["contacts"] > positions["flaky"]

    flaky.failing = None
    time.sleep(0.3)  # its retry pause
    projector.catch_up()
    assert flaky.ids(desk.views) == everything.ids(desk.views) == {f"e-{n}" for n in range(40)}
    assert contacts.ids(desk.views) == {f"e-{n}" for n in range(1, 40, 2)}
    assert len(set(projector.positions().values())) == 1


def test_crm_projections_splits_the_read_models_between_projector_processes(desk: Desk) -> None:
    """CRM_PROJECTIONS=timeline keeps the timeline only (no SLA clock, no relay); an unknown
    name stops start-up naming the ones there are."""
    desk.history.record([f for f in facts(0, 30) if f.event_type == "crm.contact.logged"])
    last = desk.history.recorder.max_notification_id()
    stop = threading.Event()
    threads = runtime.start_projectors(desk.settings.model_copy(update={"projections": "timeline"}),
                                       stop)
    try:
        assert [t.name for t in threads] == ["projections", "heartbeat"]
        wait_until(lambda: desk.views.position("timeline") == last, what="the timeline")
        assert not desk.views.position("customer360")
        assert not desk.views.position("complaint_sla")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    with pytest.raises(SettingsError, match="no read model called timelines; known: all, timeline"):
        runtime.start_projectors(desk.settings.model_copy(update={"projections": "timelines"}), stop)


def test_with_the_others_the_timeline_follows_in_a_loop_of_its_own(desk: Desk) -> None:
    """The default (all): a new event reaches the timeline without waiting for the 360's
    refolds; every read model still follows to the end."""
    desk.history.record(facts(0, 30))
    last = desk.history.recorder.max_notification_id()
    stop = threading.Event()
    threads = runtime.start_projectors(desk.settings.model_copy(update={"projections": "all"}),
                                       stop)
    try:
        assert [t.name for t in threads] == ["projections: timeline", "projections: others",
                                             "heartbeat", "alert-relay", "segments",
                                             "segment-relay", "webhooks"]
        for name in ("timeline", "customer360", "complaint_sla"):
            wait_until(lambda name=name: desk.views.position(name) == last, what=name)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_all_but_the_timeline_leaves_the_timeline_to_another_process(desk: Desk) -> None:
    """CRM_PROJECTIONS=all,-timeline (the second projector of `up` and the compose file)."""
    catalog = desk.catalog
    assert catalog.chosen("all,-timeline") == [n for n in catalog.names if n != "timeline"]
    assert catalog.chosen("timeline,customer360,-customer360") == ["timeline"]
    with pytest.raises(KeyError, match="no read model called -timelines"):
        catalog.chosen("all,-timelines")
