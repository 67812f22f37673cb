"""Projections killed and restarted mid-stream end equal to an uninterrupted run (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from generators import sample
from storage.views import to_micros
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def _rows(service: ServiceUnderTest, before: int) -> dict[str, list[tuple]]:
    """Every view row, without store positions (they differ between two stores).

    SLA verdicts come from the clock as well as from facts: only those that
    happened before the test began are the same for two runs at different moments.
    """
    views = service.views
    queries = {
        "customer_360": "SELECT customer_id, merged_into, name, email, phone_digits, status,"
                        " loyalty_score, loyalty_tier, last_event_at, document FROM {}",
        "alerts": "SELECT alert_id, kind, customer_id, raised_at, status, details FROM {}"
                  f" WHERE raised_at < {before}",
        "timeline_entries": "SELECT customer_id, occurred_at, event_id, summary, data FROM {}"
                            f" WHERE occurred_at < {before}",
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
    interrupted.env["CRM_PROJECTION_BATCH_SIZE"] = "5"
    # A second service on the same topics: its own consumer group and schema, never killed.
    calm_env = {**interrupted.env, "CRM_CONSUMER_GROUP": f"calm-{uuid.uuid4().hex[:6]}",
                "CRM_POSTGRES_SCHEMA": f"calm_{uuid.uuid4().hex[:10]}"}
    (tmp_path / "calm").mkdir()
    calm = ServiceUnderTest(calm_env, tmp_path / "calm")
    s = interrupted.settings
    events = sample.sample_events(120, poison=2, topic_of=s.topic_for)

    # Published before the services start: a slow upstream replaying history would
    # let an SLA clock judge deadlines before their answers are published, which no
    # service can know (see docs/decisions/0003); here both runs hear the same history.
    began = to_micros(datetime.now(UTC))
    for event in events:
        interrupted.producer.send(event.topic, key=event.key.encode(), value=event.value)
    interrupted.flush()
    try:
        for service in (interrupted, calm):
            service.start("consume")
            service.start("project")
        for threshold in (200, 500, 800):
            wait_until(lambda t=threshold: _projected(interrupted) >= t, what=f"projection at {threshold}")
            interrupted.kill("project")
            assert _projected(interrupted) < len(events) - 2, "killed after the stream ended"
            interrupted.start("project")
        stored = len(events) - 2
        for service in (interrupted, calm):
            wait_until(lambda svc=service: _projected(svc) >= stored
                       and _projected(svc) == svc.history.recorder.max_notification_id(),
                       timeout=120, what="projections caught up")
        assert len(interrupted.stored_event_ids()) == stored
        # Overdue follow-ups are raised by each run's clock, a tick after their facts
        # are projected (with their missed due time as raised_at): wait for both clocks.
        wait_until(lambda: _rows(interrupted, began)["alerts"] == _rows(calm, began)["alerts"],
                   timeout=60, what="both clocks to raise the same alerts")
        left, right = _rows(interrupted, began), _rows(calm, began)
        facts = [row for row in left["timeline_entries"] if not row[2].startswith("sla:")]
        assert len(left["customer_360"]) == 120 and len(facts) == stored
        assert any(row[1] == "sla_breach" for row in left["alerts"])
        for table in left:
            only_left = sorted(set(left[table]) - set(right[table]))
            only_right = sorted(set(right[table]) - set(left[table]))
            assert (only_left, only_right) == ([], []), table
    finally:
        calm.close()
