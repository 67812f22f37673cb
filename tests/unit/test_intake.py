"""Sorting a Kafka batch: every record ends as a fact to store or a reason to dead-letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from consumers import intake
from consumers.intake import (
    VALIDATOR_FAILED,
    WRONG_TOPIC,
    KafkaRecord,
    claimed,
    kafka_source,
    parse_kafka_source,
    sort_batch,
)
from history.arrivals import Message
from schemas.examples import EXAMPLES
from schemas.validation import without_inputs

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def record(offset: int, value: bytes | None, *, topic: str = "crm.orders",
           headers: list[tuple[str, bytes]] | None = None,
           timestamp_ms: int | None = None) -> KafkaRecord:
    return KafkaRecord(topic, 2, offset, b"C-10042", value, headers or [], timestamp_ms)


def test_every_offset_is_accounted_for_in_order() -> None:
    good = json.dumps(EXAMPLES["crm.order.placed"]).encode()
    records = [record(10, good), record(11, b"not json"), record(12, None), record(13, good)]
    arrivals = sort_batch(records, now=NOW, max_future=timedelta(days=1))
    assert [(a.source, a.position) for a in arrivals] == [
        (kafka_source("crm.orders", 2), n) for n in (10, 11, 12, 13)
    ]
    facts = [a.fact for a in arrivals]
    assert facts[1] is None and facts[2] is None
    assert facts[0] is not None and facts[0].customer_id == "C-10042"
    assert facts[0].data["amount"] == "129.90"
    assert [(a.position, (a.reason or "")[:20]) for a in arrivals if a.fact is None] == [
        (11, "message value is not"), (12, "empty message: no va")
    ]
    assert all(a.message == Message(r.key, r.value, ()) for a, r in zip(arrivals, records,
                                                                         strict=True))


def test_a_rejected_message_tells_what_it_claims_and_its_reason_loses_the_values() -> None:
    wrong = dict(EXAMPLES["crm.order.placed"], id="o-bad", subject="C-7")
    wrong["data"] = dict(wrong["data"], currency="euros, ann@example.com")
    teleported = dict(wrong, type="crm.order.teleported")
    binary = record(3, b"{}", headers=[("ce_specversion", b"1.0"), ("ce_type", b"\xff")])
    arrivals = sort_batch([record(1, json.dumps(wrong).encode()),
                           record(2, json.dumps(teleported).encode()), binary, record(4, b"[")],
                          now=NOW, max_future=timedelta(days=1))
    first = arrivals[0]
    assert first.message is not None
    assert claimed(first.message) == {"type": "crm.order.placed", "id": "o-bad", "subject": "C-7"}
    assert "ann@example.com" in (first.reason or "")
    assert without_inputs(first.reason or "") == (
        "data.currency: must be an ISO 4217 currency code such as 'EUR'")
    assert [a.event_type for a in arrivals] == ["crm.order.placed", "unknown", "unknown",
                                                "unknown"]
    assert claimed(arrivals[3].message) == {}  # type: ignore[arg-type]


def test_what_a_message_claims_is_escaped_for_logs() -> None:
    message = Message(None, json.dumps({"id": "a\u0000b", "subject": "C-\u001b"}).encode())
    assert claimed(message) == {"id": "a\\x00b", "subject": "C-\\x1b"}


def test_merges_and_erasures_are_accepted_only_on_the_accounts_topic() -> None:
    merge = json.dumps(EXAMPLES["crm.account.merged"]).encode()
    erase = json.dumps(EXAMPLES["crm.account.erasure_requested"]).encode()
    order = json.dumps(EXAMPLES["crm.order.placed"]).encode()
    arrivals = sort_batch([record(1, merge, topic="crm.orders"),
                           record(2, erase, topic="crm.contacts"),
                           record(3, merge, topic="crm.accounts"),
                           record(4, order, topic="crm.orders")],
                          now=NOW, max_future=timedelta(days=1), accounts_topic="crm.accounts")
    assert [a.fact is not None for a in arrivals] == [False, False, True, True]
    assert arrivals[0].reason == ("type crm.account.merged is accepted only on crm.accounts, whose"
                                  " publishers Kafka ACLs restrict (got it on crm.orders)")
    assert arrivals[0].error_class == WRONG_TOPIC
    assert arrivals[1].event_type == "crm.account.erasure_requested"


def test_a_source_name_gives_back_its_topic_and_partition() -> None:
    assert parse_kafka_source(kafka_source("t1.crm.orders", 3)) == ("t1.crm.orders", 3)


def test_each_refusal_carries_its_error_class_and_the_record_its_timestamp() -> None:
    teleported = dict(EXAMPLES["crm.order.placed"], type="crm.order.teleported")
    arrivals = sort_batch([record(1, b"not json", timestamp_ms=1_764_000_000_123),
                           record(2, json.dumps(teleported).encode()),
                           record(3, b""),
                           record(4, b"\x00\x00\x01")],
                          now=NOW, max_future=timedelta(days=1))
    assert [a.error_class for a in arrivals] == ["not_json", "unknown_type", "empty", "framing"]
    assert arrivals[0].message is not None and arrivals[0].message.timestamp_ms == 1_764_000_000_123
    assert arrivals[1].message is not None and arrivals[1].message.timestamp_ms is None


def test_a_validator_failure_is_its_own_class(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(intake, "parse_kafka_message", broken)
    (arrival,) = sort_batch([record(1, b"{}")], now=NOW, max_future=timedelta(days=1))
    assert arrival.error_class == VALIDATOR_FAILED
    assert arrival.reason == "could not be validated: KeyError: 'oops'"


def test_extensions_and_the_schema_id_reach_the_reported_fact() -> None:
    event = dict(EXAMPLES["crm.order.placed"], traceparent="00-ab-cd-01", sequence=3)
    framed = b"\x00\x00\x00\x00\x2a" + json.dumps(event).encode()
    plain, with_frame = sort_batch([record(1, json.dumps(EXAMPLES["crm.order.placed"]).encode()),
                                    record(2, framed)], now=NOW, max_future=timedelta(days=1))
    assert plain.fact is not None and (plain.fact.extensions, plain.fact.schema_id) == (None, None)
    assert with_frame.fact is not None
    assert with_frame.fact.extensions == {"traceparent": "00-ab-cd-01", "sequence": 3}
    assert with_frame.fact.schema_id == 42


def test_what_a_structured_message_claims_comes_from_its_value_not_stale_headers() -> None:
    value = json.dumps({"type": "crm.order.placed", "id": "from-value", "subject": "C-1"}).encode()
    headers = (("ce_id", b"from-header"), ("content-type", b"application/cloudevents+json"))
    assert claimed(Message(None, value, headers))["id"] == "from-value"
    assert claimed(Message(None, b"{}", (("ce_id", b"from-header"),)))["id"] == "from-header"
