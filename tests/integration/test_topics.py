"""The topics the service creates: partitions, replicas and the dead-letter topic's limits."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from kafka.errors import InvalidReplicationFactorError

from consumers.deadletter import MAX_LETTER_BYTES
from service.settings import Settings
from service.topics import ensure_topics
from tests.integration.conftest import ServiceUnderTest

pytestmark = pytest.mark.integration


def renamed(service: ServiceUnderTest, **update: object) -> Settings:
    """The service's settings with one topic of a new name (the others exist already)."""
    prefix = service.settings.topic_contacts.split(".")[0]
    return service.settings.model_copy(update={key: f"{prefix}.{value}" if key.startswith("topic_")
                                               and isinstance(value, str) else value
                                               for key, value in update.items()})


def test_the_dead_letter_topic_takes_large_letters_and_keeps_them_as_configured(
    pg_service: ServiceUnderTest,
) -> None:
    s = renamed(pg_service, topic_deadletter="dlq2", deadletter_retention_days=90)
    assert ensure_topics(s) == [s.topic_deadletter]
    admin = AdminClient(s.kafka_client())
    try:
        resource = ConfigResource("topic", s.topic_deadletter)
        described = admin.describe_configs([resource])[resource].result()
        configs = {name: entry.value for name, entry in described.items()}
        topic = admin.list_topics(s.topic_deadletter, timeout=10).topics[s.topic_deadletter]
    finally:
        admin.delete_topics([s.topic_deadletter])
    assert configs["max.message.bytes"] == str(MAX_LETTER_BYTES)
    assert configs["retention.ms"] == str(90 * 86_400_000)
    assert len(topic.partitions) == s.topic_partitions


def test_more_replicas_than_brokers_is_refused_by_kafka_not_ignored(
    pg_service: ServiceUnderTest,
) -> None:
    s = renamed(pg_service, topic_alerts="alerts3", topic_replication_factor=3)
    with pytest.raises(InvalidReplicationFactorError):
        ensure_topics(s)
