"""The CloudEvents Kafka binding on the real broker and PostgreSQL (issue 19): content mode
by ``content-type``, extension attributes kept to the timeline, schema-registry frames,
and dead letters that say their error class, the original timestamp and the group."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.redrive import read_dead_letters, read_to_end
from service.cli import main
from tests.events import cloud_event, contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def ce_headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Binary mode's attributes, without ``content-type``."""
    return [(f"ce_{name}", str(value).encode()) for name, value in event.items()
            if name not in ("data", "datacontenttype")]


def framed(schema_id: int, event: dict[str, Any]) -> bytes:
    """As Confluent's JSON Schema serializer frames a value: 0x00, the id, the JSON."""
    return b"\x00" + struct.pack(">I", schema_id) + json.dumps(event).encode()


def timeline(service: ServiceUnderTest, customer: str) -> dict[str, dict[str, Any]]:
    """The customer's timeline entries by event id, read over the HTTP API."""
    answer = service.api().get(f"/customers/{customer}/timeline")
    assert answer.status_code == 200, answer.text
    return {entry["event_id"]: entry for entry in answer.json()["entries"]}


def test_content_mode_extensions_and_frames_reach_the_store_and_the_timeline(
        pg_service: ServiceUnderTest) -> None:
    service, s = pg_service, pg_service.settings
    structured = contact("C-1", hours_ago(5), event_id="structured-1")
    structured["traceparent"] = TRACEPARENT
    # A proxy copied stale ce_* headers beside a structured event: they are not read.
    stale = ce_headers(contact("C-other", hours_ago(9), event_id="from-headers"))
    service.publish(s.topic_contacts, structured, key="C-1",
                    headers=[*stale, ("content-type", b"application/cloudevents+json")])
    binary = order("C-1", hours_ago(4), "O-1", event_id="binary-1")
    service.publish(s.topic_orders, json.dumps(binary["data"]).encode(), key="C-1",
                    headers=[*ce_headers(binary), ("ce_traceparent", TRACEPARENT.encode()),
                             ("ce_partitionkey", b"C-1")])  # and no content-type
    registry = contact("C-1", hours_ago(3), event_id="framed-1")
    service.publish(s.topic_contacts, framed(100_042, registry), key="C-1")
    service.flush()
    service.start("consume")
    service.start("project")

    wait_until(lambda: len(service.stored_event_ids()) == 3, what="the three events")
    facts = {f.event_id: f for f in service.history.customer_facts("C-1")}
    assert sorted(facts) == ["binary-1", "framed-1", "structured-1"]
    assert service.history.customer_facts("C-other") == []
    assert facts["structured-1"].extensions == {"traceparent": TRACEPARENT}
    assert facts["binary-1"].extensions == {"traceparent": TRACEPARENT, "partitionkey": "C-1"}
    assert facts["binary-1"].data["order_id"] == "O-1"
    assert (facts["framed-1"].schema_id, facts["framed-1"].extensions) == (100_042, None)
    assert facts["structured-1"].schema_id is None

    history = service.history
    wait_until(lambda: service.timeline_positions() == history.recorder.max_notification_id(),
               what="the timeline to follow")
    entries = timeline(service, "C-1")
    assert entries["structured-1"]["extensions"] == {"traceparent": TRACEPARENT}
    assert entries["binary-1"]["extensions"]["traceparent"] == TRACEPARENT
    assert entries["framed-1"]["extensions"] == {}


def test_hostile_extensions_are_dead_lettered_with_a_reason_and_the_partition_goes_on(
        pg_service: ServiceUnderTest) -> None:
    service, s = pg_service, pg_service.settings
    hostile: dict[str, tuple[list[tuple[str, bytes]], dict[str, Any] | bytes, str, str]] = {}

    def spoiled(name: str, **extra: Any) -> dict[str, Any]:
        event = contact("C-1", hours_ago(2), event_id=f"hostile-{name}")
        event.update(extra)
        return event

    hostile["capital name"] = ([], spoiled("capital", TraceParent="x"), "extension",
                               "attribute 'TraceParent': CloudEvents attribute names are")
    hostile["long name"] = ([], spoiled("long", averyveryverylongname1="x"), "extension",
                            "at most 20 characters long")
    hostile["object value"] = ([], spoiled("object", partner={"a": 1}), "extension",
                               "partner: an extension attribute must be a string")
    hostile["control character"] = ([], spoiled("control", traceparent="00-\x1b[31m"),
                                    "hostile_text", "traceparent: contains U+001B")
    hostile["too many"] = ([], spoiled("many", **{f"x{n}": "v" for n in range(17)}),
                           "too_large", "at most 16 extension attributes")
    binary = contact("C-1", hours_ago(2), event_id="hostile-header")
    hostile["header name"] = ([*ce_headers(binary), ("ce_Trace-Id", b"1")],
                              json.dumps(binary["data"]).encode(), "extension",
                              "attribute 'Trace-Id'")
    for n, (headers, value, _, _) in enumerate(hostile.values()):
        service.publish(s.topic_contacts, value, key="one-partition", headers=headers)
        service.publish(s.topic_contacts, contact("C-2", hours_ago(1), event_id=f"marker-{n}"),
                        key="one-partition")
    service.flush()
    service.start("consume")

    wait_until(lambda: len(service.stored_event_ids()) == len(hostile), what="every marker")
    assert sorted(service.stored_event_ids()) == [f"marker-{n}" for n in range(len(hostile))]
    letters = wait_until(lambda: len(read_dead_letters(s.kafka_client(), s.topic_deadletter))
                         == len(hostile) and read_dead_letters(s.kafka_client(),
                                                               s.topic_deadletter),
                         what="the dead letters")
    got = [(letter.error_class, letter.reason) for letter in
           sorted(letters, key=lambda x: x.source_offset)]
    for (error_class, reason), (kind, (_, _, expected_class, says)) in zip(
            got, hostile.items(), strict=True):
        assert error_class == expected_class, kind
        assert says in reason, (kind, reason)


def test_each_dead_letter_class_comes_from_its_input_and_the_list_filters_by_it(
        pg_service: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    service, s = pg_service, pg_service.settings
    cases: list[tuple[str, str, bytes | dict[str, Any], list[tuple[str, bytes]]]] = [
        ("not_json", s.topic_contacts, b"{broken", []),
        ("empty", s.topic_contacts, b"", [("trace", b"empty")]),
        ("framing", s.topic_contacts, b"\x00\x00\x01", []),
        ("content_mode", s.topic_contacts, contact("C-1", hours_ago(1)),
         [("content-type", b"application/cloudevents-batch+json")]),
        ("header", s.topic_contacts, b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"\xff")]),
        ("hostile_text", s.topic_contacts, contact("C-\x001", hours_ago(1)), []),
        ("extension", s.topic_contacts, {**contact("C-1", hours_ago(1)), "Bad": "x"}, []),
        ("too_large", s.topic_contacts, {**contact("C-1", hours_ago(1)), "big": "x" * 2001}, []),
        ("schema", s.topic_orders, order("C-1", hours_ago(1), "O-1", amount="-5"), []),
        ("unknown_type", s.topic_orders, cloud_event("crm.order.teleported", "C-1"), []),
        ("future_time", s.topic_orders, order("C-1", hours_ago(-72), "O-2"), []),
        ("wrong_topic", s.topic_orders,
         cloud_event("crm.account.merged", "C-1", data={"duplicate_customer_id": "C-2"}), []),
    ]
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    sent_at = {}
    for n, (error_class, topic, value, headers) in enumerate(cases):
        payload = value if isinstance(value, bytes) else json.dumps(value).encode()
        stamp = 1_700_000_000_000 + n  # the upstream's own record timestamp, kept
        producer.send(topic, payload, key=b"C-1", headers=headers, timestamp_ms=stamp)
        sent_at[error_class] = stamp
    producer.flush()
    producer.close()
    service.start("consume")

    letters = wait_until(lambda: len(read_dead_letters(s.kafka_client(), s.topic_deadletter))
                         == len(cases) and read_dead_letters(s.kafka_client(),
                                                             s.topic_deadletter),
                         what="one dead letter per case")
    by_class = {letter.error_class: letter for letter in letters}
    assert sorted(by_class) == sorted(c[0] for c in cases)
    for error_class, letter in by_class.items():
        assert letter.timestamp_ms == sent_at[error_class], error_class
        assert letter.consumer_group == s.consumer_group
        assert letter.reason and letter.reason != "rejected"
    raw = {dict(r.headers)["dlq.error.class"].decode(): dict(r.headers)
           for r in read_to_end(s.kafka_client(), s.topic_deadletter)}
    assert raw["future_time"]["dlq.timestamp"] == str(sent_at["future_time"]).encode()
    assert raw["future_time"]["dlq.consumer_group"] == s.consumer_group.encode()
    assert b"in the future" in raw["future_time"]["dlq.reason"]

    for name, value in service.env.items():
        monkeypatch.setenv(name, value)
    assert main(["deadletter", "list", "--class", "future_time"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[-1] == f"1 dead letters on {s.topic_deadletter}"
    assert "future_time" in listing[0] and "in the future" in listing[0]
    assert main(["deadletter", "list", "--class", "refused_by_store"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"no dead letters on {s.topic_deadletter}"]
    assert main(["deadletter", "list"]) == 0
    every = capsys.readouterr().out.splitlines()
    assert len(every) == len(cases) + 1
    assert all(any(c[0] in line for line in every) for c in cases)
    assert main(["deadletter", "inspect", by_class["framing"].name]) == 0
    shown = capsys.readouterr().out
    assert "error class   framing" in shown
    assert f"rejected by   consumer group {s.consumer_group}" in shown
    assert "record time   2023-11-14T22:13:20.002000+00:00" in shown
    assert main(["deadletter", "redrive", "--class", "not_json", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "1 dead letters would be re-driven (dry run: nothing published)")
