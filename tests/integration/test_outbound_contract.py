"""What a receiver really gets matches the AsyncAPI document the API serves: a real alert
on the alerts topic, a real segment entry on the segments topic and a real dead letter,
consumed from Kafka and checked against the document's payload, header and key schemas."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from consumers.deadletter import DeadLetterRelay
from consumers.intake import kafka_source
from consumers.redrive import DeadLetter
from domain.facts import ReportedFact
from domain.segment_rules import parse_rule
from history.arrivals import Arrival, Message
from projections.segments import SegmentBook
from service import bootstrap
from tests.asyncapi import check_record, messages, validator
from tests.events import NOW
from tests.integration.conftest import ServiceUnderTest

pytestmark = pytest.mark.integration


def consumed(service: ServiceUnderTest, topic: str, expected: int) -> list[Any]:
    consumer = KafkaConsumer(topic, bootstrap_servers=service.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    try:
        records = list(consumer)
    finally:
        consumer.close()
    assert len(records) == expected, topic
    return records


def test_what_receivers_get_is_what_the_asyncapi_document_says(
        pg_service: ServiceUnderTest) -> None:
    service, s = pg_service, pg_service.settings
    api = bootstrap.build_api(s, service.history, service.views)
    document = TestClient(api).get("/asyncapi.json").json()

    # An SLA breach and its at-risk alert, raised by the projections and relayed.
    service.history.record([Arrival("test:feed", 1, ReportedFact(
        "k-1", "crm.complaint.opened", "tests", "C-7", NOW - timedelta(hours=10),
        {"complaint_id": "K-1", "priority": "high"}))])
    catalog = bootstrap.build_catalog(s, service.history, service.views)
    bootstrap.build_projection_loop(s, service.history, service.views,
                                    catalog).projector().catch_up()
    assert bootstrap.build_alert_relay(s, service.views).relay_once() == 2
    alerts = [check_record(document, "alerts", r) for r in consumed(service, s.topic_alerts, 2)]
    assert {a["type"] for a in alerts} == {"crm.sla.breached", "crm.sla.at_risk"}
    assert all(a["subject"] == "C-7" and a["id"] == a["data"]["alert_id"] for a in alerts)

    # The customer enters a segment that takes everyone; the entry is relayed.
    SegmentBook(service.views).define("everyone", parse_rule({"all": []}), "all", "tests")
    assert bootstrap.build_segment_keeper(s, catalog).tick() == 1
    assert bootstrap.build_segment_relay(s, service.views).relay_once() == 1
    (entry,) = consumed(service, s.topic_segments, 1)
    event = check_record(document, "segments", entry)
    assert (event["type"], event["subject"], event["data"]["segment"]) == (
        "crm.segment.entered", "C-7", "everyone")
    assert dict(entry.headers)["change_id"].decode() == event["id"]

    # A rejected message that said what it was: the letter keeps that as dlq.content_type
    # and declares its own; re-driving gives the original headers back, in their order.
    sent = (("content-type", b"application/cloudevents+json"), ("trace", b"t-1"))
    service.history.record([Arrival(kafka_source(s.topic_orders, 0), 5, None,
                                    Message(b"C-7", b"{broken", sent), "not valid JSON")])
    relay = DeadLetterRelay(service.history, s.kafka_client(), s.topic_deadletter)
    assert relay.relay_once(relay.sender()) == 1
    (letter,) = consumed(service, s.topic_deadletter, 1)
    (described,) = messages(document, "deadletter").values()
    headers = {name: value.decode() for name, value in letter.headers}
    validator(document, described["headers"]).validate(headers)
    validator(document, described["bindings"]["kafka"]["key"]).validate(letter.key.decode())
    assert headers["content-type"] == described["contentType"] == "application/octet-stream"
    assert headers["dlq.content_type"] == "application/cloudevents+json"
    assert DeadLetter.of(letter).headers == sent and letter.value == b"{broken"
    assert json.loads(json.dumps(document)) == document  # served as plain JSON
