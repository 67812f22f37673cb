"""Sending with librdkafka: a key lands where Java clients put it; a refusal is raised."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.partitioner.default import murmur2

from messaging.sending import Sender

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    """A topic of 4 partitions that takes messages of at most 2 kB."""
    name = f"sending-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, 4, 1, topic_configs={"max.message.bytes": "2048"})])
    try:
        yield name
    finally:
        admin.delete_topics([name])
        admin.close()


def test_a_key_goes_to_the_partition_java_clients_choose(kafka_bootstrap: str, topic: str) -> None:
    sender = Sender({"bootstrap.servers": kafka_bootstrap})
    keys = [f"C-{n}".encode() for n in range(40)]
    for key in keys:
        sender.send(topic, b"{}", key=key)
    sender.flush()
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    landed = {m.key: m.partition for m in consumer}
    consumer.close()
    assert landed == {key: (murmur2(key) & 0x7FFFFFFF) % 4 for key in keys}


def test_flush_raises_what_the_broker_refused(kafka_bootstrap: str, topic: str) -> None:
    sender = Sender({"bootstrap.servers": kafka_bootstrap})
    sender.send(topic, b"x" * 10_000, key=b"C-1")  # over the topic's 2 kB
    sender.send(topic, b"fine", key=b"C-2")
    with pytest.raises(KafkaException, match="1 message refused: "):
        sender.flush()
    sender.flush()  # said once: the next flush has nothing to report


def test_a_refusal_can_be_handled_by_the_caller(kafka_bootstrap: str, topic: str) -> None:
    sender = Sender({"bootstrap.servers": kafka_bootstrap})
    refused = []
    sender.send(topic, b"x" * 10_000, on_refused=refused.append)
    sender.flush()
    assert [error.code() for error in refused] == [10]  # MSG_SIZE_TOO_LARGE
