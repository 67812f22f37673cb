"""The dead-letter relay: recorded letters reach the topic under their identity, once marked;
a letter too large even for the dead-letter topic goes without its value."""

from __future__ import annotations

import threading

import pytest

from consumers.deadletter import MAX_LETTER_BYTES, OMITTED_HEADER, DeadLetterRelay
from consumers.intake import kafka_source
from history.arrivals import Arrival, Message
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def record_letters(service: ServiceUnderTest, *letters: tuple[int, Message]) -> None:
    source = kafka_source(service.settings.topic_orders, 1)
    service.history.record([Arrival(source, offset, None, message, f"refused {offset}",
                                    error_class="schema")
                            for offset, message in letters])


def test_letters_are_published_with_their_identity_and_marked(service: ServiceUnderTest) -> None:
    s = service.settings
    record_letters(service, (7, Message(b"C-1", b"{broken", (("trace", b"\x00\xff"),),
                                        1_764_000_000_123)),
                   (8, Message(None, None)))
    relay = DeadLetterRelay(service.history, s.kafka_client(), s.topic_deadletter,
                            group_id="crm-timeline-eu")
    sender = relay.sender()

    assert relay.relay_once(sender) == 2
    assert relay.relay_once(sender) == 0  # marked published: not leased again
    assert service.history.recorder.dead_letter_counts() == (2, 0)

    first, second = sorted(service.dead_letters(2), key=lambda m: m.offset)
    assert first.key == f"{s.topic_orders}/1/7".encode() and first.value == b"{broken"
    headers = dict(first.headers)
    assert headers["trace"] == b"\x00\xff" and headers["dlq.key"] == b"C-1"
    assert headers["dlq.reason"] == b"refused 7" and headers["dlq.offset"] == b"7"
    assert headers["dlq.error.class"] == b"schema"
    assert headers["dlq.timestamp"] == b"1764000000123"
    assert headers["dlq.consumer_group"] == b"crm-timeline-eu"
    assert second.key == f"{s.topic_orders}/1/8".encode() and second.value is None
    assert "dlq.key" not in dict(second.headers)
    assert "dlq.timestamp" not in dict(second.headers)  # the record had none
    assert first.partition == second.partition  # one source partition, one letter partition


def test_a_letter_too_large_for_the_topic_goes_without_its_value(service: ServiceUnderTest) -> None:
    s = service.settings
    huge = b'{"x": "' + b"a" * (MAX_LETTER_BYTES + 1) + b'"}'
    record_letters(service, (3, Message(b"C-9", huge, (("big", b"b" * 1000),))))
    relay = DeadLetterRelay(service.history, s.kafka_client(), s.topic_deadletter)
    stop = threading.Event()
    running = threading.Thread(target=relay.run, args=(stop,))
    running.start()
    try:
        (letter,) = service.dead_letters(1)
    finally:
        stop.set()
        relay.wake()
        running.join(timeout=30)
    assert not running.is_alive()
    headers = dict(letter.headers)
    assert letter.value is None and "big" not in headers
    assert headers[OMITTED_HEADER] == f"{len(huge) + 1000} bytes".encode()
    assert headers["dlq.reason"] == b"refused 3" and headers["dlq.key"] == b"C-9"
    # still recorded in the store (the whole message), and marked published
    wait_until(lambda: service.history.recorder.dead_letter_counts() == (1, 0),
               what="the letter to be marked published")
