"""Alerts reach crm.alerts through the outbox: once per alert id for a receiver that dedupes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from kafka import KafkaConsumer

from domain.facts import ReportedFact
from history.arrivals import Arrival
from service import bootstrap
from tests.events import NOW
from tests.integration.conftest import ServiceUnderTest

pytestmark = pytest.mark.integration


class RelayKilled(Exception):
    pass


def received(service: ServiceUnderTest, expected: int) -> list:
    consumer = KafkaConsumer(service.settings.topic_alerts,
                             bootstrap_servers=service.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    messages: list = []
    try:
        for message in consumer:
            messages.append(message)
    finally:
        consumer.close()
    assert len(messages) >= expected
    return messages


def test_alerts_reach_kafka_once_per_id_even_when_the_relay_dies_before_marking(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    def catch_up() -> None:
        catalog = bootstrap.build_catalog(service.settings, service.history, service.views)
        bootstrap.build_projection_loop(service.settings, service.history, service.views,
                                        catalog).projector().catch_up()

    service.history.record([
        Arrival("test:feed", n, ReportedFact(f"k-{n}", "crm.complaint.opened", "tests", f"C-{n}",
                                      NOW - timedelta(hours=10), {"complaint_id": f"K-{n}", "priority": "high"}))
        for n in range(3)
    ])
    catch_up()
    with service.views.read() as db:
        db.execute(f"SELECT alert_id FROM {service.views.table('alerts')}")
        alert_ids = sorted(row["alert_id"] for row in db.fetchall())
    assert len(alert_ids) == 6  # each: first response at risk and breached

    dying = bootstrap.build_alert_relay(service.settings, service.views)

    def killed(_: list[str]) -> None:
        raise RelayKilled

    dying.mark_published = killed  # type: ignore[method-assign]
    with pytest.raises(RelayKilled):
        dying.relay_once()  # published all six, marked none

    relay = bootstrap.build_alert_relay(service.settings, service.views)
    assert relay.relay_once() == 6  # the restarted relay publishes them again
    assert relay.relay_once() == 0
    # Replaying history from the first event raises the same alerts again: none is queued twice.
    with service.views.write() as db:
        for table in ("alerts", "complaint_clocks", "customer_360", "timeline_entries",
                      "projection_tracking"):
            db.execute(f"DELETE FROM {service.views.table(table)}")
    catch_up()
    with service.views.read() as db:
        db.execute(f"SELECT count(*) AS n FROM {service.views.table('alerts')}")
        assert db.fetchone() == {"n": 6}
    assert relay.relay_once() == 0

    messages = received(service, expected=12)
    assert len(messages) == 12  # at least once: the dead relay's six, and the six again
    by_id = {dict(m.headers)["alert_id"].decode(): json.loads(m.value) for m in messages}
    assert sorted(by_id) == alert_ids  # deduplicated by id: each alert exactly once
    # CloudEvents in structured mode, the event id the alert id: a repeat is the same event
    assert all(dict(m.headers)["content-type"] == b"application/cloudevents+json"
               for m in messages)
    assert all(event["id"] == alert_id for alert_id, event in by_id.items())
    # keyed by customer: one customer's alerts keep their order on one partition
    assert all(m.key.decode() == json.loads(m.value)["subject"]
               == json.loads(m.value)["data"]["customer_id"] for m in messages)
    breach = next(v for k, v in by_id.items() if k.endswith(":breach"))
    assert breach["type"] == "crm.sla.breached" and breach["source"] == "crm-timeline/alerts"
    assert {"customer_id", "complaint_id", "kind", "priority", "due", "at"} <= set(breach["data"])
