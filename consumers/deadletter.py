"""The dead-letter topic: rejected messages, byte for byte, with the reason attached.

A rejected message is first recorded in the event store, in the same
transaction as its partition's offset (``history/customer_history.py``): a batch
delivered again after a crash or a rebalance finds the offset stored and
records nothing twice. This relay then publishes what is recorded and marks it
published once the broker has acknowledged it. A relay killed in between
publishes it again, under the same identity: the message key is the letter's
``topic/partition/offset``, and every header is the same, so readers (and
``crm-timeline deadletter list``) keep one copy per key. Letters of one source
partition go to one dead-letter partition, in the order they were rejected.

The original value and headers are kept exactly, so a fixed message can be
re-driven as it was; the original key travels in ``dlq.key``; ``dlq.*`` headers
say where it came from and why it was rejected, as Kafka Connect's
``__connect.errors.*`` and Spring Kafka's ``kafka_dlt-*`` headers do: the reason in
prose (``dlq.reason``) and as a class for machines (``dlq.error.class``), the
source topic, partition and offset, the original record's timestamp
(``dlq.timestamp``, milliseconds since the epoch, absent if it had none) and the
consumer group that rejected it (``dlq.consumer_group``). The letter declares its own
``content-type`` (``application/octet-stream``: the value is whatever bytes were
rejected), so the original's, if it had one, is kept in place as
``dlq.content_type`` (re-driving restores it). A plain confluent-kafka producer
is used because FastStream's publisher re-encodes headers as text and adds its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from consumers.intake import parse_kafka_source
from history.customer_history import CustomerHistory
from history.recorder import DeadLetter
from messaging.sending import Sender
from schemas.published import DEADLETTER_CONTENT_TYPE, ORIGINAL_CONTENT_TYPE_HEADER
from storage.errors import RetryPacer

log = logging.getLogger(__name__)

#: Largest dead letter published: the dead-letter topic is created to take this much
#: (``service/topics.py``), so a message that filled an ingestion topic's limit still fits
#: with the ``dlq.*`` headers added.
MAX_LETTER_BYTES = 4 * 1024 * 1024
#: How long a relay holds the letters it is publishing before another may take them.
LEASE_SECONDS = 60.0
#: Header naming the original key (the message key is the letter's identity).
KEY_HEADER = "dlq.key"
#: Headers of the machine-readable error class, the original record's timestamp and the
#: consumer group.
CLASS_HEADER = "dlq.error.class"
TIMESTAMP_HEADER = "dlq.timestamp"
GROUP_HEADER = "dlq.consumer_group"
#: Header present when the value and original headers were left out because even the
#: dead-letter topic refused their size; the whole message stays in the event store's
#: dead-letter table.
OMITTED_HEADER = "dlq.value_omitted"


def letter_key(letter: DeadLetter) -> bytes:
    """``topic/partition/offset``: one identity per rejected message, however often sent."""
    topic, partition = parse_kafka_source(letter.source)
    return f"{topic}/{partition}/{letter.position}".encode()


#: The letter's own ``content-type`` header.
CONTENT_TYPE = "content-type"


def original_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The rejected message's headers in their order, its ``content-type`` renamed."""
    return [(ORIGINAL_CONTENT_TYPE_HEADER if name == CONTENT_TYPE else name, value)
            for name, value in letter.message.headers]


def dead_letter_headers(letter: DeadLetter, group_id: str | None = None) -> list[tuple[str, bytes]]:
    """The original headers, then the ``dlq.*`` ones (``group_id``: the consumer group that
    rejected it, if known)."""
    topic, partition = parse_kafka_source(letter.source)
    original_key = [] if letter.message.key is None else [(KEY_HEADER, letter.message.key)]
    stamp = letter.message.timestamp_ms
    return [
        *original_headers(letter),
        *original_key,
        ("dlq.reason", letter.reason.encode()),
        (CLASS_HEADER, letter.error_class.encode()),
        ("dlq.topic", topic.encode()),
        ("dlq.partition", str(partition).encode()),
        ("dlq.offset", str(letter.position).encode()),
        *([] if stamp is None else [(TIMESTAMP_HEADER, str(stamp).encode())]),
        *([] if group_id is None else [(GROUP_HEADER, group_id.encode())]),
        ("dlq.rejected_at", letter.rejected_at.astimezone(UTC).isoformat().encode()),
        (CONTENT_TYPE, DEADLETTER_CONTENT_TYPE.encode()),
    ]


class DeadLetterRelay:
    """Publishes the dead letters recorded in the event store, oldest first, and marks them
    published: at least once, and always under the same key. Every consumer process runs
    one; each leases the letters it publishes, so two do not publish the same letter."""

    def __init__(self, history: CustomerHistory, client: Mapping[str, Any], topic: str, *,
                 group_id: str | None = None, batch_size: int = 500,
                 idle_seconds: float = 1.0) -> None:
        """``client``: the librdkafka settings every client of this service shares;
        ``group_id``: the ingestion's consumer group, named in ``dlq.consumer_group``."""
        self.history = history
        self.group_id = group_id
        self.client = client
        self.topic = topic
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()

    def sender(self) -> Sender:
        return Sender(self.client, **{"client.id": "crm-timeline-deadletters", "linger.ms": 5,
                                      # a letter and its headers, in a request of their own
                                      "message.max.bytes": MAX_LETTER_BYTES + 64 * 1024})

    def wake(self) -> None:
        """New letters were recorded: relay them now rather than at the next poll."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set (``wake`` makes it see that at once), then once more
        for what is recorded by then, if the broker takes it."""
        sender = self.sender()
        pacer = RetryPacer("publishing dead letters", log)
        while True:
            try:
                while self.relay_once(sender):
                    pass
                pacer.succeeded()
                pause = self.idle_seconds
            except Exception as error:  # the broker or the database is away: try again later
                pause = pacer.failed(error)
            if stop.is_set():
                return
            self._wake.wait(pause)
            self._wake.clear()

    def relay_once(self, sender: Sender) -> int:
        """Publish one batch of recorded letters; return how many were published."""
        letters = self.history.recorder.lease_dead_letters(self.batch_size, LEASE_SECONDS)
        if not letters:
            return 0
        partitions = sender.partitions(self.topic)
        too_large: list[DeadLetter] = []
        for letter in letters:
            self._send(sender, letter, partitions, too_large)
        sender.flush()
        for letter in too_large:
            self._send(sender, letter, partitions, None)
        sender.flush()
        self.history.recorder.mark_dead_letters_published(
            [(x.source, x.position) for x in letters], datetime.now(UTC))
        log.info("published %d dead letters to %s", len(letters), self.topic)
        return len(letters)

    def _send(self, sender: Sender, letter: DeadLetter, partitions: list[int],
              too_large: list[DeadLetter] | None) -> None:
        """Send one letter, to the partition of its source partition. A letter refused for
        its size goes into ``too_large``; with ``too_large`` None, it is sent without its
        value and original headers (the whole message stays in the event store)."""
        key, value = letter_key(letter), letter.message.value
        headers = dead_letter_headers(letter, self.group_id)
        if too_large is None:
            size = len(value or b"") + sum(len(v or b"") for _, v in letter.message.headers)
            log.warning("dead letter %s is too large for %s (%d bytes): published without its "
                        "value and headers, which stay in the event store", key.decode(),
                        self.topic, size)
            headers = [*headers[len(letter.message.headers):],
                       (OMITTED_HEADER, f"{size} bytes".encode())]
            value = None

        def refused(error: KafkaError) -> None:
            if too_large is not None and _too_large(error):
                too_large.append(letter)
            else:
                sender.refused.append(error)

        _, source_partition = parse_kafka_source(letter.source)
        try:
            sender.send(self.topic, value, key=key, headers=headers,
                        partition=partitions[source_partition % len(partitions)],
                        on_refused=refused)
        except KafkaException as error:  # refused before it was queued: its size
            refused(error.args[0])


def _too_large(error: KafkaError) -> bool:
    return error.code() == KafkaError.MSG_SIZE_TOO_LARGE  # librdkafka's and the broker's
