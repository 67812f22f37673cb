"""Restoring consumer positions from the store when partitions are assigned.

Offsets committed to Kafka are only a courtesy for lag tools: the truth is the
position stored in the same transaction as the events (SPEC §3). On every
assignment the consumer seeks each partition to the position after the stored
one, or to the beginning when nothing of it was stored yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from consumers.intake import kafka_source
from history.customer_history import CustomerHistory

log = logging.getLogger(__name__)


class SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, history: CustomerHistory, consumer: Callable[[], AIOKafkaConsumer]):
        self.history = history
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to flush: each batch is stored before the next is fetched."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self.consumer()
        sources = {kafka_source(tp.topic, tp.partition): tp for tp in assigned}
        stored = await anyio.to_thread.run_sync(self.history.recorder.positions, list(sources))
        for source, tp in sorted(sources.items()):
            if source in stored:
                consumer.seek(tp, stored[source] + 1)
                log.info("%s resumes after stored offset %d", source, stored[source])
            else:
                await consumer.seek_to_beginning(tp)
                log.info("%s starts from the beginning: nothing stored yet", source)
