"""The dead-letter topic: rejected messages, byte for byte, with the reason attached.

The original key, value and headers are kept exactly (so a fixed message can be
re-driven as it was); ``dlq.*`` headers say where it came from and why it was
rejected. A plain aiokafka producer is used because FastStream's publisher
re-encodes headers as text and adds its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from consumers.intake import Rejected


def dead_letter_headers(rejected: Rejected, *, now: datetime) -> list[tuple[str, bytes]]:
    record = rejected.record
    return [
        *list(record.headers or ()),
        ("dlq.reason", rejected.reason.encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.rejected_at", now.astimezone(UTC).isoformat().encode()),
    ]


class DeadLetters:
    """Publishes rejected messages to the dead-letter topic before their offsets are stored."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect; aiokafka needs the running event loop, so not in ``__init__``."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, rejected: Sequence[Rejected]) -> None:
        """Publish all and wait for the broker's acknowledgement of each."""
        if self._producer is None:
            raise RuntimeError("DeadLetters.start() was not awaited")
        now = datetime.now(UTC)
        sent = [
            await self._producer.send(
                self.topic,
                value=item.record.value,
                key=item.record.key,
                headers=dead_letter_headers(item, now=now),
            )
            for item in rejected
        ]
        for delivery in sent:
            await delivery
