"""Creating the service's Kafka topics with kafka-python's admin client."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from service.settings import Settings


def ensure_topics(settings: Settings) -> list[str]:
    """Create any missing topic of the service; return the names it created."""
    wanted = [*settings.ingestion_topics, settings.topic_deadletter, settings.topic_alerts]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="crm-timeline-admin")
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        created = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, settings.topic_partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
