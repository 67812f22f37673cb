"""Kafka to event store to timeline, on the real broker and both store backends."""

from __future__ import annotations

import json

import pytest

from tests.events import cloud_event, contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def test_published_events_appear_in_the_timeline_in_event_time_order(service: ServiceUnderTest) -> None:
    s = service.settings
    # Published out of event-time order, across topics: the order call is older
    # than the contact published before it, and a late event arrives last.
    service.publish(s.topic_contacts, contact("C-1", hours_ago(2)), key="C-1")
    service.publish(s.topic_orders, order("C-1", hours_ago(30), "O-1"), key="C-1")
    service.publish(s.topic_contacts, contact("C-1", hours_ago(1), channel="email"), key="C-1")
    service.publish(s.topic_orders, order("C-2", hours_ago(5), "O-2"), key="C-2")
    service.publish(s.topic_orders, order("C-1", hours_ago(10), "O-late"), key="C-1")
    service.flush()
    service.start("consume")
    service.start("project")

    client = service.api()

    def timeline() -> list[dict]:
        return client.get("/customers/C-1/timeline").json()["entries"]

    entries = wait_until(lambda: len(timeline()) == 4 and timeline(), what="4 timeline entries")
    assert [e["summary"] for e in entries] == [
        "Inbound email contact about 'delivery date' (resolved) 2m00s",
        "Inbound phone contact about 'delivery date' (resolved) 2m00s",
        "Order O-late placed: 1 item, 129.90 EUR via web",
        "Order O-1 placed: 1 item, 129.90 EUR via web",
    ]
    oldest_first = client.get("/customers/C-1/timeline", params={"order": "oldest"}).json()
    assert [e["summary"][:14] for e in oldest_first["entries"]] == [
        "Order O-1 plac", "Order O-late p", "Inbound phone ", "Inbound email "
    ]
    orders_only = client.get("/customers/C-1/timeline", params={"type": "crm.order"}).json()
    assert [e["data"]["order_id"] for e in orders_only["entries"]] == ["O-late", "O-1"]
    assert client.get("/customers/C-2/timeline").json()["entries"][0]["data"]["order_id"] == "O-2"


def test_the_same_event_id_published_twice_is_stored_once(service: ServiceUnderTest) -> None:
    s = service.settings
    event = order("C-7", hours_ago(3), "O-7", event_id="evt-duplicate-1")
    service.publish(s.topic_orders, event, key="C-7")
    service.publish(s.topic_orders, event, key="C-7")
    service.flush()
    service.start("consume")
    marker = contact("C-7", hours_ago(1), event_id="evt-after")
    # The duplicate again, later, after a restart of nothing: still once.
    service.publish(s.topic_orders, event, key="C-7")
    service.publish(s.topic_contacts, marker, key="C-7")
    service.flush()
    wait_until(lambda: "evt-after" in service.stored_event_ids(), what="the marker event")
    assert sorted(service.stored_event_ids()) == ["evt-after", "evt-duplicate-1"]

    service.start("project")
    client = service.api()
    wait_until(lambda: len(client.get("/customers/C-7/timeline").json()["entries"]) == 2,
               what="the timeline")
    assert len(service.history.customer_facts("C-7")) == 2


def test_poison_goes_to_the_dead_letter_topic_and_the_partition_goes_on(
    service: ServiceUnderTest,
) -> None:
    s = service.settings
    key = "C-9"  # one key: every message below lands on the same partition
    malformed = b'{"specversion": "1.0", "id": "x-1", '
    wrong_type = cloud_event("crm.order.teleported", key, event_id="x-2")
    missing_subject = contact(key, hours_ago(1), event_id="x-3")
    del missing_subject["subject"]
    negative = order(key, hours_ago(1), "O-neg", amount="-5.00", event_id="x-4")
    poison = [malformed, wrong_type, missing_subject, negative]
    for message in poison:
        service.publish(s.topic_orders, message, key=key, headers=[("trace", b"\x00\xff")])
    valid = [order(key, hours_ago(2), f"O-{n}", event_id=f"ok-{n}") for n in range(3)]
    for message in valid:
        service.publish(s.topic_orders, message, key=key)
    service.flush()
    service.start("consume")

    wait_until(lambda: len(service.stored_event_ids()) == 3, what="the valid events")
    assert sorted(service.stored_event_ids()) == ["ok-0", "ok-1", "ok-2"]

    letters = service.dead_letters(expected=4)
    assert len(letters) == 4
    originals = [m if isinstance(m, bytes) else json.dumps(m).encode() for m in poison]
    assert [letter.value for letter in letters] == originals
    reasons = [dict(letter.headers)["dlq.reason"].decode() for letter in letters]
    assert "JSON" in reasons[0]
    assert "crm.order.teleported" in reasons[1]
    assert "subject" in reasons[2]
    assert "amount" in reasons[3]
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["trace"] == b"\x00\xff"  # original headers kept byte for byte
        assert headers["dlq.topic"] == s.topic_orders.encode()
        assert headers["dlq.key"] == key.encode()  # the original key
        source = f"{s.topic_orders}/{headers['dlq.partition'].decode()}/{headers['dlq.offset'].decode()}"
        assert letter.key == source.encode()  # the letter's identity
