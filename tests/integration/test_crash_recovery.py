"""SIGKILL in the middle of a stream loses nothing and duplicates nothing (SPEC §3)."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.events import contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

EVENTS = 6000


def _timeline_rows(service: ServiceUnderTest) -> tuple[int, int]:
    with service.views.read() as db:
        db.execute(
            "SELECT count(*) AS n, count(DISTINCT event_id) AS d"
            f" FROM {service.views.table('timeline_entries')}"
        )
        row = db.fetchone()
    assert row is not None
    return row["n"], row["d"]


def _stored(service: ServiceUnderTest) -> int:
    return service.history.recorder.max_notification_id() or 0


def _projected(service: ServiceUnderTest) -> int:
    return service.timeline_positions()


def test_consumer_and_projector_killed_mid_stream_resume_exactly_once(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    service.env["CRM_CONSUMER_BATCH_SIZE"] = "100"
    service.env["CRM_PROJECTION_BATCH_SIZE"] = "100"
    s = service.settings
    expected = {f"e-{n}" for n in range(EVENTS)}

    def publish_stream() -> None:
        """A steady stream that stays at most ~1,200 events ahead of the slower of the two
        processes, so the kills below land while events still arrive however slow the
        machine is."""
        for n in range(EVENTS):
            if n % 200 == 0:
                wait_until(lambda n=n: min(_stored(service), _projected(service)) >= n - 1000,
                           timeout=120, what="the processes to keep up with the stream")
            customer = f"C-{n % 250}"
            if n % 2:
                event = order(customer, hours_ago(n / 100), f"O-{n}", event_id=f"e-{n}")
                service.publish(s.topic_orders, event, key=customer)
            else:
                event = contact(customer, hours_ago(n / 100), event_id=f"e-{n}")
                service.publish(s.topic_contacts, event, key=customer)
            if n % 200 == 199:
                service.flush()
                time.sleep(0.25)
        service.flush()

    _stored(service), _projected(service)  # the store's clients, made before the thread uses them
    publisher = threading.Thread(target=publish_stream)
    publisher.start()
    service.start("consume")
    service.start("project")
    # Kill each process several times while events still arrive; the asserts
    # make sure no kill came after the end of the stream.
    kills = [("consume", _stored, 1000), ("project", _projected, 1500),
             ("consume", _stored, 2500), ("project", _projected, 3500),
             ("consume", _stored, 4000)]
    for process, progress, threshold in kills:
        wait_until(lambda p=progress, t=threshold: p(service) >= t, what=f"{process} at {threshold}")
        service.kill(process)
        assert progress(service) < EVENTS, f"{process} killed after the stream ended"
        service.start(process)
    publisher.join()
    wait_until(lambda: _stored(service) >= EVENTS and len(service.stored_event_ids()) >= EVENTS,
               timeout=120, what="every event stored")

    stored = service.stored_event_ids()
    assert len(stored) == EVENTS
    assert set(stored) == expected
    last_position = service.history.recorder.max_notification_id()
    wait_until(lambda: service.timeline_positions() == last_position, timeout=120,
               what="the timeline to catch up")
    assert _timeline_rows(service) == (EVENTS, EVENTS)


def test_two_consumers_in_one_group_one_killed_mid_stream_store_each_event_once(
    pg_service: ServiceUnderTest,
) -> None:
    """Both consumers share the partitions; the killed one's move to the other at the session
    timeout, which resumes them from the positions stored with the events."""
    service = pg_service
    service.env["CRM_CONSUMER_BATCH_SIZE"] = "100"
    s = service.settings
    expected = {f"e-{n}" for n in range(EVENTS)}

    def publish(numbers: range) -> None:
        for n in numbers:
            customer = f"C-{n % 250}"
            if n % 2:
                service.publish(s.topic_orders, order(customer, hours_ago(n / 100), f"O-{n}",
                                                      event_id=f"e-{n}"), key=customer)
            else:
                service.publish(s.topic_contacts, contact(customer, hours_ago(n / 100),
                                                          event_id=f"e-{n}"), key=customer)
        service.flush()

    def assigned(name: str) -> bool:
        said = (service.logs / f"{name}.log").read_text()
        return re.search(r"assigned [1-9][0-9]* partitions", said) is not None

    publish(range(0, 2000))
    service.start("consume", name="consumer-a")
    service.start("consume", name="consumer-b")
    wait_until(lambda: assigned("consumer-a") and assigned("consumer-b"),
               what="both consumers to hold partitions")
    publish(range(2000, 4000))
    wait_until(lambda: _stored(service) >= 3000, what="the consumers to store a share")
    service.kill("consumer-a")
    assert _stored(service) < EVENTS
    publish(range(4000, EVENTS))
    wait_until(lambda: _stored(service) >= EVENTS and len(service.stored_event_ids()) >= EVENTS,
               timeout=120, what="every event stored")

    stored = service.stored_event_ids()
    assert len(stored) == EVENTS
    assert set(stored) == expected
    # The survivor took the killed one's partitions over, from stored positions.
    assert re.search(r"[1-9][0-9]* resume after their stored offsets",
                     (service.logs / "consumer-b.log").read_text())
