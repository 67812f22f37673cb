"""Projector shards: N processes, each keeping its own customers, end in the same views as one.

Two stores are given the same history, merges across the shards' boundary, a chain,
an unmerge and an erasure among it. One store is followed by a single projector, the
other by two shards, each with its own production projection loop and batch size, one
always far ahead of the other. Every view must come out the same.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generators.loadgen import LoadGenerator, as_fact
from history.arrivals import Arrival
from projections.catalog import COMPLAINT_SLA, ReadModelCatalog
from projections.complaint_sla import ComplaintSlaProjection
from projections.runner import ProjectionLoop, Projector
from projections.shards import Shard
from service import bootstrap
from service.settings import Settings, load_settings
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
HALVES = Shard(0, 2), Shard(1, 2)


class Deployment:
    """A store with its read models, followed by one projection loop per shard."""

    def __init__(self, store: dict[str, str], shards: int) -> None:
        base = load_settings(**{k[4:].lower(): v for k, v in store.items()},
                             projection_shards=shards)
        self.history = bootstrap.build_history(base)
        self.views = bootstrap.build_views(base, self.history)
        self.catalogs: list[ReadModelCatalog] = []
        self.loops: list[ProjectionLoop] = []
        for k in range(shards):
            settings = base.model_copy(update={"projection_shard": k,
                                               "projection_batch_size": 40 + 61 * k})
            catalog = bootstrap.build_catalog(settings, self.history, self.views)
            sla = catalog.live(COMPLAINT_SLA)
            assert isinstance(sla, ComplaintSlaProjection)
            sla.clock = lambda: NOW
            self.catalogs.append(catalog)
            self.loops.append(bootstrap.build_projection_loop(settings, self.history,
                                                              self.views, catalog))
        self.offset = itertools.count(1)

    def record(self, events: list[dict[str, Any]]) -> None:
        self.history.record([Arrival("test:feed", next(self.offset), as_fact(e)) for e in events])

    def catch_up(self) -> None:
        """Each shard in turn, the first all the way before the second starts."""
        for loop in self.loops:
            loop.projector().catch_up()

    def check_clocks(self) -> None:
        for catalog in self.catalogs:
            catalog.live(COMPLAINT_SLA).check_due(NOW)  # type: ignore[attr-defined]

    def views_seen(self) -> dict[str, Any]:
        catalog = self.catalogs[0]
        seen: dict[str, Any] = {name: catalog.read(name) for name in catalog.rebuildable}
        with self.views.read() as db:
            for table, order in (("complaint_clocks", "complaint_id"),
                                 ("alerts", "alert_id"), ("alert_outbox", "alert_id")):
                db.execute(f"SELECT * FROM {self.views.table(table)} ORDER BY {order}")
                seen[table] = [{k: v for k, v in row.items() if k != "queued_at"}
                               for row in db.fetchall()]
        seen["groups"] = {c: catalog.live("customer360").group(c)  # type: ignore[attr-defined]
                          for c in CUSTOMERS}
        return seen


CUSTOMERS = [f"C-{n:03d}" for n in range(1, 25)]


def history() -> Iterator[list[dict[str, Any]]]:
    """The same history in four parts: activity, merges, more activity, an unmerge and an
    erasure, then activity of the duplicates after all that."""
    generator = LoadGenerator(seed=11)
    at = iter(NOW - timedelta(days=120) + timedelta(minutes=37 * n) for n in range(100_000))
    busy = CUSTOMERS[:3] * 20 + CUSTOMERS

    def activity(rounds: int) -> list[dict[str, Any]]:
        return [generator.event(c, next(at)) for _ in range(rounds) for c in busy]

    def account(event_type: str, survivor: str, duplicate: str) -> dict[str, Any]:
        return generator.envelope(survivor, event_type, next(at),
                                  {"duplicate_customer_id": duplicate})

    across = [(a, b) for a, b in itertools.combinations(CUSTOMERS, 2)
              if HALVES[0].owns(a) != HALVES[0].owns(b)]
    within = [(a, b) for a, b in itertools.combinations(CUSTOMERS, 2)
              if HALVES[0].owns(a) == HALVES[0].owns(b)]
    a, b = across[0]
    c, d = next((c, d) for c, d in across if {c, d}.isdisjoint({a, b}))
    e = next(x for x in CUSTOMERS if x not in {a, b, c, d} and HALVES[0].owns(x) != HALVES[0].owns(c))
    f, g = next((f, g) for f, g in within if {f, g}.isdisjoint({a, b, c, d, e}))

    yield activity(6)
    yield [account("crm.account.merged", a, b), account("crm.account.merged", c, d),
           account("crm.account.merged", e, c),  # a chain: d into c into e, across shards
           account("crm.account.merged", f, g)]
    yield activity(4) + [account("crm.account.unmerged", a, b),
                         generator.envelope(d, "crm.account.erasure_requested", next(at), {})]
    yield activity(3)


@pytest.fixture
def two_stores(store: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    if store["CRM_STORE"] == "postgres":
        return store, {**store, "CRM_POSTGRES_SCHEMA": f"t_{uuid.uuid4().hex[:12]}"}
    return store, {**store, "CRM_SQLITE_PATH": str(tmp_path / "sharded.sqlite")}


def test_two_projector_shards_give_the_views_of_one(two_stores) -> None:
    one, split = Deployment(two_stores[0], 1), Deployment(two_stores[1], 2)
    try:
        for part in history():
            for deployment in (one, split):
                deployment.record(part)
                deployment.catch_up()
        for deployment in (one, split):
            deployment.check_clocks()
        expected, seen = one.views_seen(), split.views_seen()
        assert expected["timeline"] and expected["alerts"] and expected["customer360"]
        assert any(row["merged_into"] for row in expected["customer360"])
        assert len({root for root, _ in expected["groups"].values()}) < len(CUSTOMERS)
        for name in expected:
            assert seen[name] == expected[name], f"{name} differs with two shards"
        positions = split.views.position
        assert {positions(f"timeline/s{k}of2") for k in range(2)} == {one.views.position("timeline")}
    finally:
        one.history.close()
        split.history.close()


def test_a_shard_keeps_only_its_customers_and_the_ones_merged_into_them(store) -> None:
    split = Deployment(store, 2)
    try:
        for part in itertools.islice(history(), 2):
            split.record(part)
        split.loops[0].projector().catch_up()
        with split.views.read() as db:
            db.execute(f"SELECT DISTINCT customer_id FROM {split.views.table('timeline_entries')}")
            timeline = {row["customer_id"] for row in db.fetchall()}
            db.execute(f"SELECT customer_id, merged_into FROM {split.views.table('customer_360')}")
            rows = db.fetchall()
        assert timeline and all(HALVES[0].owns(c) for c in timeline)
        assert {c for c in CUSTOMERS if HALVES[0].owns(c)} <= timeline
        # Its roots, and its duplicates merged into others' (no row of the other shard's).
        assert rows and all(HALVES[0].owns(row["customer_id"]) for row in rows)
    finally:
        split.history.close()


def test_two_consumers_and_two_projector_shards_on_one_store(pg_service: ServiceUnderTest) -> None:
    """The deployment as capacity.md scales it: two consumers in one group store each event
    once, and two `crm-timeline project` shards make the views a single projector makes
    (built here beside them, as generation 99, from the same store)."""
    service, s = pg_service, pg_service.settings
    events = [event for part in history() for event in part]
    service.start("consume", name="consumer-a")
    service.start("consume", name="consumer-b")
    for k in range(2):
        service.start("project", name=f"projector-{k}",
                      env={"CRM_PROJECTION_SHARDS": "2", "CRM_PROJECTION_SHARD": str(k)})
    for event in events:
        service.publish(s.topic_for(event["type"]), event, key=event["subject"])
    service.flush()

    split = ReadModelCatalog(service.history, service.views, s.policies(), HALVES[0])
    tracked = [model.name for name in split.rebuildable for model in split.every_shard(name, 1)]

    def caught_up() -> bool:
        stored = service.history.recorder.max_notification_id() or 0
        return stored >= len(events) and all(
            (service.views.position(name) or 0) >= stored for name in tracked)

    wait_until(caught_up, timeout=120, what="every event stored and both shards caught up")
    stored = service.stored_event_ids()
    assert sorted(stored) == sorted(event["id"] for event in events)

    whole = ReadModelCatalog(service.history, service.views, s.policies())
    alone = [whole.projection(name, 99) for name in whole.rebuildable]
    for model in alone:
        model.create_tables(service.views)
    Projector(service.history, service.views, alone).catch_up()
    for name in whole.rebuildable:
        assert split.read(name, 1) == whole.read(name, 99), f"{name} differs with two shards"


def test_a_shard_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="CRM_PROJECTION_SHARD=2 is not one of the "
                                         "CRM_PROJECTION_SHARDS=2 shards"):
        Settings(projection_shards=2, projection_shard=2)
