"""Projections killed and restarted mid-stream end equal to an uninterrupted run (PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from service import sample
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def _rows(service: ServiceUnderTest) -> dict[str, list[tuple]]:
    """Every view row, without store positions (they differ between two stores)."""
    views = service.views
    queries = {
        "customer_360": "SELECT customer_id, merged_into, name, email, phone_digits, status,"
                        " loyalty_score, loyalty_tier, last_event_at, document FROM {}",
        "alerts": "SELECT alert_id, kind, customer_id, raised_at, status, details FROM {}",
        "timeline_entries": "SELECT customer_id, occurred_at, event_id, summary, data FROM {}",
    }
    rows = {}
    with views.read() as db:
        for table, query in queries.items():
            db.execute(query.format(views.table(table)))
            rows[table] = sorted(tuple(r.values()) for r in db.fetchall())
    return rows


def _projected(service: ServiceUnderTest) -> int:
    return min(service.views.position(name) or 0 for name in ("timeline", "customer360"))


def test_killed_projections_end_equal_to_an_uninterrupted_run(pg_service: ServiceUnderTest,
                                                              tmp_path) -> None:
    interrupted = pg_service
    interrupted.env["CRM_PROJECTION_BATCH_SIZE"] = "50"
    # A second service on the same topics: its own consumer group and schema, never killed.
    calm_env = {**interrupted.env, "CRM_CONSUMER_GROUP": f"calm-{uuid.uuid4().hex[:6]}",
                "CRM_POSTGRES_SCHEMA": f"calm_{uuid.uuid4().hex[:10]}"}
    (tmp_path / "calm").mkdir()
    calm = ServiceUnderTest(calm_env, tmp_path / "calm")
    s = interrupted.settings
    events = sample.sample_events(120, poison=2, topic_for={
        "accounts": s.topic_accounts, "contacts": s.topic_contacts,
        "orders": s.topic_orders, "complaints": s.topic_complaints})

    def publish_stream() -> None:
        for n, event in enumerate(events):
            interrupted.producer.send(event.topic, key=event.key.encode(), value=event.value)
            if n % 100 == 99:
                interrupted.flush()
                time.sleep(0.2)
        interrupted.flush()

    publisher = threading.Thread(target=publish_stream)
    publisher.start()
    try:
        for service in (interrupted, calm):
            service.start("consume")
            service.start("project")
        for threshold in (300, 900, 1500):
            wait_until(lambda t=threshold: _projected(interrupted) >= t, what=f"projection at {threshold}")
            interrupted.kill("project")
            assert _projected(interrupted) < len(events) - 2, "killed after the stream ended"
            interrupted.start("project")
        publisher.join()
        stored = len(events) - 2
        for service in (interrupted, calm):
            wait_until(lambda svc=service: _projected(svc) >= stored
                       and _projected(svc) == svc.history.recorder.max_notification_id(),
                       timeout=120, what="projections caught up")
        assert len(interrupted.stored_event_ids()) == stored
        left, right = _rows(interrupted), _rows(calm)
        assert len(left["customer_360"]) == 120 and len(left["timeline_entries"]) == stored
        assert left == right
    finally:
        calm.close()
