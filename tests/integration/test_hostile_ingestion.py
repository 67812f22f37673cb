"""Hostile input on the real broker and PostgreSQL: every message is stored or
dead-lettered exactly once, and the partition behind it carries on (issue 13)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from consumers.deadletter import KEY_HEADER
from consumers.redrive import read_dead_letters, read_to_end
from consumers.storing import store_batch
from domain.facts import ReportedFact
from domain.merges import MAX_MERGE_DEPTH
from history.arrivals import Arrival, Message
from service import bootstrap
from service.settings import load_settings
from tests.events import NOW, cloud_event, contact, hours_ago
from tests.integration.conftest import Desk, ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def complaint(subject: str, **changes: Any) -> dict[str, Any]:
    event = cloud_event("crm.complaint.opened", subject, at=hours_ago(3), data={
        "complaint_id": f"K-{subject}", "priority": "normal", "summary": "parcel late"})
    for name, value in changes.items():
        if name.startswith("data_"):
            event["data"][name[5:]] = value
        else:
            event[name] = value
    return event


def raw_letters(service: ServiceUnderTest) -> list[Any]:
    return read_to_end(service.settings.kafka_client(), service.settings.topic_deadletter)


def test_nul_and_year_one_are_dead_lettered_and_the_partition_goes_on(
        pg_service: ServiceUnderTest) -> None:
    service, s = pg_service, pg_service.settings
    hostile = {
        "NUL in id": complaint("C-1", id="ev-\x00-1"),
        "NUL in subject": complaint("C-\x002"),
        "NUL in source": complaint("C-3", source="shop\x00"),
        "NUL in free text": complaint("C-4", data_summary="late\x00"),
        "year 0001": complaint("C-5", time="0001-01-01T00:00:00Z"),
    }
    for n, event in enumerate(hostile.values()):
        service.publish(s.topic_complaints, event, key="same-partition")
        service.publish(s.topic_complaints, contact(f"C-{n}", hours_ago(1), event_id=f"marker-{n}"),
                        key="same-partition")
    service.flush()
    service.start("consume")
    service.start("project")

    wait_until(lambda: len(service.stored_event_ids()) == len(hostile), what="the markers")
    assert sorted(service.stored_event_ids()) == [f"marker-{n}" for n in range(len(hostile))]
    letters = wait_until(lambda: len(raw_letters(service)) >= len(hostile) and raw_letters(service),
                         what="the dead letters")
    reasons = [dict(letter.headers)["dlq.reason"].decode() for letter in letters]
    assert reasons == [
        "id: contains U+0000 (NUL) at character 4",
        "subject: contains U+0000 (NUL) at character 3",
        "source: contains U+0000 (NUL) at character 5",
        "data.summary: contains U+0000 (NUL) at character 5",
        "time: must not be before 1900-01-01T00:00:00Z (got '0001-01-01T00:00:00Z')",
    ]
    assert [letter.value for letter in letters] == [json.dumps(e).encode() for e in hostile.values()]
    history = service.history
    wait_until(lambda: service.timeline_positions() == history.recorder.max_notification_id(),
               what="the timeline to reach the history's end")


def test_a_record_the_database_refuses_is_dead_lettered_and_the_rest_stored(
        postgres_store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A fact that slipped past validation (or came from an older version of it): PostgreSQL
    refuses NUL in text. The batch is split until that record is found; the rest is stored."""
    for name, value in postgres_store.items():
        monkeypatch.setenv(name, value)
    history = bootstrap.build_history(load_settings())
    try:
        def arrival(n: int, event_id: str) -> Arrival:
            fact = ReportedFact(event_id, "crm.contact.logged", "tests", f"C-{n}", NOW,
                                {"channel": "phone", "direction": "inbound"})
            return Arrival("kafka:crm.contacts/0", n, fact, Message(b"C", f"m-{n}".encode()))

        arrivals = [arrival(n, f"ok-{n}") for n in range(7)]
        arrivals[4] = arrival(4, "bad-\x00-4")
        outcome = store_batch(history, arrivals, {"kafka:crm.contacts/0": True})

        assert outcome.recorded == 6
        assert [(a.position, a.reason, a.error_class) for a in outcome.dead_letters] == [
            (4, "the event store refused it: DataError: PostgreSQL text fields cannot contain "
                "NUL (0x00) bytes", "refused_by_store")]
        assert history.recorder.positions(["kafka:crm.contacts/0"]) == {"kafka:crm.contacts/0": 6}
        assert history.recorder.sources_caught_up() == {"kafka:crm.contacts/0": True}
        (letter,) = history.recorder.lease_dead_letters(10, 60)
        assert letter.message == Message(b"C", b"m-4") and letter.position == 4
        assert letter.error_class == "refused_by_store"
        # The same batch again (a re-delivery) changes nothing and dead-letters nothing twice.
        again = store_batch(history, arrivals, {"kafka:crm.contacts/0": True})
        assert again.recorded == 0 and again.dead_letters == () and again.already_seen == 7
        assert history.recorder.dead_letter_counts() == (1, 1)
    finally:
        history.close()


def test_a_merge_deeper_than_the_limit_is_refused_when_it_arrives(
        pg_service: ServiceUnderTest) -> None:
    service, s = pg_service, pg_service.settings
    depth = MAX_MERGE_DEPTH + 1
    for n in range(depth):  # C-1 into C-0, then C-0's group into C-2, ...: a chain
        merge = cloud_event("crm.account.merged", f"C-{n + 1}", at=hours_ago(2),
                            data={"duplicate_customer_id": f"C-{n}"}, event_id=f"merge-{n}")
        service.publish(s.topic_accounts, merge, key="one-partition")
    service.publish(s.topic_accounts, contact("C-0", hours_ago(1), event_id="marker"),
                    key="one-partition")
    service.flush()
    service.start("consume")
    service.start("project")

    wait_until(lambda: "marker" in service.stored_event_ids(), what="the marker")
    (letter,) = wait_until(lambda: read_dead_letters(s.kafka_client(), s.topic_deadletter),
                           what="the refused merge")
    assert letter.reason == (
        f"merge refused: merging 'C-{depth - 1}' into 'C-{depth}' would make a chain of {depth}"
        f" merges in one group; at most {MAX_MERGE_DEPTH} are allowed")
    assert json.loads(letter.value or b"")["id"] == f"merge-{depth - 1}"
    assert letter.error_class == "merge_limit"
    history = service.history
    wait_until(lambda: service.views.position("customer360")
               == history.recorder.max_notification_id(), what="the 360 to follow")
    answer = service.api().get("/customers/C-0")
    assert answer.status_code == 200
    assert answer.json()["customer_id"] == f"C-{depth - 1}"  # the deepest chain allowed
    assert len(answer.json()["merged_ids"]) == MAX_MERGE_DEPTH


def test_a_message_at_kafkas_size_limit_is_dead_lettered_whole_and_once(
        pg_service: ServiceUnderTest) -> None:
    """A 1 MB message leaves no room for the ``dlq.*`` headers on a topic of the broker's
    default size: the dead-letter topic is made larger, so it is kept byte for byte."""
    service, s = pg_service, pg_service.settings
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, max_request_size=2 ** 21)
    big = json.dumps(complaint("C-1", data_summary="x" * 1_040_000)).encode()
    producer.send(s.topic_complaints, big, key=b"C-1", headers=[("trace", b"t" * 100)]).get(30)
    producer.close()
    service.publish(s.topic_complaints, contact("C-1", hours_ago(1), event_id="marker"), key="C-1")
    service.flush()
    service.start("consume")

    wait_until(lambda: service.stored_event_ids() == ["marker"], what="the marker")
    (letter,) = wait_until(lambda: raw_letters(service), what="the dead letter")
    assert letter.value == big
    assert "data.summary: must have at most 2000 characters" in dict(letter.headers)["dlq.reason"].decode()
    assert dict(letter.headers)[KEY_HEADER] == b"C-1"


def test_a_rebalance_on_a_calm_start_does_not_dead_letter_twice(
        pg_service: ServiceUnderTest) -> None:
    """Two consumers of one group: the second one's arrival rebalances the partitions while
    the first is working. Every dead letter is still published once, under one key."""
    service, s = pg_service, pg_service.settings
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    sent = 0
    for partition in sorted(producer.partitions_for(s.topic_orders)):
        for n in range(50):
            producer.send(s.topic_orders, b"{poison " + str(n).encode(), partition=partition)
            producer.send(s.topic_orders, json.dumps(contact(f"C-{partition}", hours_ago(1),
                                                             event_id=f"ok-{partition}-{n}"))
                          .encode(), partition=partition)
            sent += 1
    producer.flush()
    producer.close()
    service.start("consume")
    wait_until(lambda: raw_letters(service), what="the first dead letters")
    second = ServiceUnderTest(service.env, service.logs)  # same topics, same group
    second.start("consume")
    try:
        wait_until(lambda: len(service.stored_event_ids()) == sent, what="every valid event")
        wait_until(lambda: len(raw_letters(service)) >= sent, what="every dead letter")
    finally:
        second.stop_all()
    keys = Counter(letter.key for letter in raw_letters(service))
    assert len(keys) == sent and set(keys.values()) == {1}, "a dead letter was published twice"


def test_readyz_is_not_ready_while_a_partition_with_lag_stands_still(
        pg_service: ServiceUnderTest) -> None:
    """No consumer runs: messages wait. One look cannot tell that from a message that
    arrived a moment ago; a partition seen standing still for longer than allowed can."""
    service, s = pg_service, pg_service.settings
    service.publish(s.topic_orders, contact("C-1", hours_ago(1)), key="C-1")
    service.flush()
    api = bootstrap.build_api(s.model_copy(update={"ready_max_stall_seconds": 1.0}),
                              service.history, service.views)
    client = TestClient(api)
    first = client.get("/readyz").json()
    assert not [r for r in first.get("reasons", []) if "has not advanced" in r]
    time.sleep(1.5)
    stalled = client.get("/readyz")
    assert stalled.status_code == 503
    (reason,) = [r for r in stalled.json()["reasons"] if "has not advanced" in r]
    assert reason.startswith(f"partition {s.topic_orders}/") and "with 1 messages waiting" in reason

    service.start("consume")
    wait_until(lambda: not [r for r in client.get("/readyz").json().get("reasons", [])
                            if "has not advanced" in r], what="the stall to end")


def test_merges_stored_before_the_limits_existed_are_counted_in_them(desk: Desk) -> None:
    """A store older than the merge pointers' table: the history fills it from the merges
    it holds when it creates it, so the limits are judged against every group."""
    def merged(n: int, survivor: str, duplicate: str, kind: str = "merged") -> ReportedFact:
        return ReportedFact(f"m-{n}", f"crm.account.{kind}", "tests", survivor, NOW,
                            {"duplicate_customer_id": duplicate})

    desk.record(merged(1, "C-1", "C-2"), merged(2, "C-2", "C-3"), merged(3, "C-9", "C-8"),
                merged(4, "C-9", "C-8", "unmerged"))
    assert desk.history.recorder.merge_links(["C-3"]) == {"C-2": "C-1", "C-3": "C-2"}
    merges_table = f"{desk.history.recorder.events_table_name}_merges"
    with desk.views.write() as db:
        db.execute(f"DROP TABLE {desk.views.table(merges_table)}")
    again = bootstrap.build_history(desk.settings)
    try:
        assert again.recorder.merges_table_created
        assert again.recorder.merge_links(["C-1", "C-8"]) == {"C-2": "C-1", "C-3": "C-2"}
    finally:
        again.close()
