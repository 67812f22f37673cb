"""Creating the service's Kafka topics with kafka-python's admin client."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from consumers.deadletter import MAX_LETTER_BYTES
from messaging.clients import kafka_python_options
from service.settings import Settings


def ensure_topics(settings: Settings) -> list[str]:
    """Create any missing topic of the service; return the names it created."""
    wanted = [*settings.ingestion_topics, settings.topic_deadletter, settings.topic_alerts,
              settings.topic_segments]
    admin = KafkaAdminClient(**kafka_python_options(settings.kafka_client()),
                             client_id="crm-timeline-admin")
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        created = []
        for name in missing:
            # A dead letter is its message plus dlq.* headers: the topic takes more than the
            # broker's default, so a message that filled an ingestion topic still fits.
            configs = ({"max.message.bytes": str(MAX_LETTER_BYTES),
                        "retention.ms": str(int(settings.deadletter_retention_days * 86_400_000))}
                       if name == settings.topic_deadletter else {})
            try:
                admin.create_topics([NewTopic(name, settings.topic_partitions,
                                              settings.topic_replication_factor,
                                              topic_configs=configs)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
