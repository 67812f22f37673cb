"""The AsyncAPI document of the Kafka side, drawn by FastStream's specification builder.

Ingestion runs on confluent-kafka (``consumers/ingestion.py``); FastStream only
describes it here: the broker is declared, never started.
"""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream
from faststream.confluent import KafkaBroker
from faststream.specification import AsyncAPI


def ingestion_asyncapi(bootstrap_servers: str, topics: Sequence[str], deadletter_topic: str) -> str:
    """The AsyncAPI 3.0 document as JSON."""
    broker = KafkaBroker(bootstrap_servers)

    @broker.subscriber(*topics, batch=True, title="crm-ingestion",
                       description="Upstream CloudEvents about customers; each stored exactly once.")
    async def ingest(messages: list[bytes]) -> None:
        """Validated, stored once per event id, or dead-lettered with the reason."""

    broker.publisher(
        deadletter_topic,
        title="crm-deadletter",
        description="Rejected messages, each once per key `topic/partition/offset`: the "
        "original value and headers, the original key in dlq.key, plus dlq.reason, dlq.topic, "
        "dlq.partition, dlq.offset and dlq.rejected_at headers.",
    )
    app = FastStream(broker, specification=AsyncAPI(
        title="CRM customer timeline: ingestion",
        description="CloudEvents about customers in; rejected messages to the dead-letter topic.",
    ))
    return app.schema.to_specification().to_json()
