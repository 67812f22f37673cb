"""Sending to Kafka with librdkafka: wait when its queue is full, and know what was refused.

confluent-kafka's ``Producer.produce`` only queues a message: it raises ``BufferError``
when the local queue is full, and tells of the broker's refusal later, in a
delivery callback served by ``poll`` or ``flush``. Every producer of the service
wants the same two things on top: back-pressure instead of an exception, and an
error raised (not logged and forgotten) when something it sent was not taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from messaging.logs import LIBRDKAFKA

Refused = Callable[[KafkaError], None]


class Sender:
    """One librdkafka producer (``acks=all``, idempotent), and what the broker refused."""

    def __init__(self, client: Mapping[str, Any], **settings: Any) -> None:
        """``client``: the settings every client of the service shares (brokers, security);
        ``settings``: librdkafka settings of this producer (``client.id``, ``linger.ms``...)."""
        # murmur2: the partition Java clients (and kafka-python) choose for a key, so one
        # customer's events share a partition whoever publishes them.
        self.producer = Producer({"acks": "all", "enable.idempotence": True,
                                  "partitioner": "murmur2_random", **client, **settings},
                                 logger=LIBRDKAFKA)
        self.refused: list[KafkaError] = []

    def send(self, topic: str, value: bytes | None, *, key: bytes | None = None,
             headers: Sequence[tuple[str, bytes]] | None = None, partition: int | None = None,
             on_refused: Refused | None = None) -> None:
        """Queue one message, waiting for room if librdkafka's queue is full. A message the
        broker does not take is passed to ``on_refused`` (default: kept in ``refused``, and
        ``flush`` raises). A message refused before it is queued (too large) raises here."""
        refused = on_refused or self.refused.append

        def delivered(error: KafkaError | None, _: Any) -> None:
            if error is not None:
                refused(error)

        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers or None,
                                      on_delivery=delivered, **extra)
                return
            except BufferError:
                self.producer.poll(0.05)

    def poll(self) -> None:
        """Serve delivery callbacks of what was sent (cheap; call it now and then)."""
        self.producer.poll(0)

    def flush(self, timeout: float = 30.0, refused: list[KafkaError] | None = None) -> None:
        """Wait for the broker's acknowledgement of everything sent; raise ``KafkaException``
        if any message was refused (the first reason, once) or not acknowledged in time.
        ``refused``: the list whose ``append`` a caller gave ``send`` as ``on_refused`` (its
        own messages, when several callers share the producer); default: this sender's."""
        unacknowledged = self.producer.flush(timeout)
        refused = self.refused if refused is None else refused
        if refused:
            first, count = refused[0], len(refused)
            refused.clear()
            said = "1 message refused" if count == 1 else f"{count} messages refused; the first"
            raise KafkaException(KafkaError(first.code(), f"{said}: {first.str()}"))
        if unacknowledged:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                            f"{unacknowledged} messages not acknowledged "
                                            f"within {timeout:.0f} s"))

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partition numbers, from the brokers' metadata."""
        metadata = self.producer.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        return sorted(metadata.partitions)
