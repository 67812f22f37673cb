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
say where it came from and why it was rejected. A plain aiokafka producer is
used because FastStream's publisher re-encodes headers as text and adds its own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from consumers.intake import parse_kafka_source
from history.customer_history import CustomerHistory
from history.recorder import DeadLetter
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
#: Header present when the value and original headers were left out because even the
#: dead-letter topic refused their size; the whole message stays in the event store's
#: dead-letter table.
OMITTED_HEADER = "dlq.value_omitted"


def letter_key(letter: DeadLetter) -> bytes:
    """``topic/partition/offset``: one identity per rejected message, however often sent."""
    topic, partition = parse_kafka_source(letter.source)
    return f"{topic}/{partition}/{letter.position}".encode()


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    topic, partition = parse_kafka_source(letter.source)
    original_key = [] if letter.message.key is None else [(KEY_HEADER, letter.message.key)]
    return [
        *letter.message.headers,
        *original_key,
        ("dlq.reason", letter.reason.encode()),
        ("dlq.topic", topic.encode()),
        ("dlq.partition", str(partition).encode()),
        ("dlq.offset", str(letter.position).encode()),
        ("dlq.rejected_at", letter.rejected_at.astimezone(UTC).isoformat().encode()),
    ]


class DeadLetterRelay:
    """Publishes the dead letters recorded in the event store, oldest first, and marks them
    published: at least once, and always under the same key. Every consumer process runs
    one; each leases the letters it publishes, so two do not publish the same letter."""

    def __init__(self, history: CustomerHistory, bootstrap_servers: str, topic: str, *,
                 batch_size: int = 500, idle_seconds: float = 1.0) -> None:
        self.history = history
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._producer: AIOKafkaProducer | None = None
        self._partitions: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Connect and start relaying; aiokafka needs the running loop, so not in ``__init__``."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", enable_idempotence=True,
            max_request_size=MAX_LETTER_BYTES, client_id="crm-timeline-deadletters")
        await self._producer.start()
        self._partitions = sorted(await self._producer.partitions_for(self.topic))
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="dead-letter relay")

    async def stop(self) -> None:
        """Publish what is recorded by now (if the broker takes it), then disconnect."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def wake(self) -> None:
        """New letters were recorded: relay them now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        pacer = RetryPacer("publishing dead letters", log)
        while True:
            try:
                while await self.relay_once():
                    pass
                pacer.succeeded()
                pause = self.idle_seconds
            except Exception as error:  # the broker or the database is away: try again later
                pause = pacer.failed(error)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), pause)
            except TimeoutError:
                pass

    async def relay_once(self) -> int:
        """Publish one batch of recorded letters; return how many were published."""
        if self._producer is None:
            raise RuntimeError("DeadLetterRelay.start() was not awaited")
        letters = await anyio.to_thread.run_sync(self.history.recorder.lease_dead_letters,
                                                 self.batch_size, LEASE_SECONDS)
        if not letters:
            return 0
        sent = await asyncio.gather(*[self._send(letter) for letter in letters],
                                    return_exceptions=True)
        too_large = [letter for letter, outcome in zip(letters, sent, strict=True)
                     if isinstance(outcome, MessageSizeTooLargeError | RecordTooLargeError)]
        for outcome in sent:
            if isinstance(outcome, BaseException) and not isinstance(
                    outcome, MessageSizeTooLargeError | RecordTooLargeError):
                raise outcome
        await asyncio.gather(*[self._send(letter, without_value=True) for letter in too_large])
        await anyio.to_thread.run_sync(self.history.recorder.mark_dead_letters_published,
                                       [(x.source, x.position) for x in letters],
                                       datetime.now(UTC))
        log.info("published %d dead letters to %s", len(letters), self.topic)
        return len(letters)

    async def _send(self, letter: DeadLetter, *, without_value: bool = False) -> object:
        """Publish one letter and wait for the broker's acknowledgement. ``without_value``:
        for a letter too large even for the dead-letter topic, which goes without its value
        and original headers (the whole message stays in the event store's dead-letter
        table)."""
        assert self._producer is not None
        key, headers, value = letter_key(letter), dead_letter_headers(letter), letter.message.value
        if without_value:
            size = len(value or b"") + sum(len(v or b"") for _, v in letter.message.headers)
            log.warning("dead letter %s is too large for %s (%d bytes): published without its "
                        "value and headers, which stay in the event store", key.decode(),
                        self.topic, size)
            headers = [*headers[len(letter.message.headers):],
                       (OMITTED_HEADER, f"{size} bytes".encode())]
            value = None
        _, source_partition = parse_kafka_source(letter.source)
        partition = self._partitions[source_partition % len(self._partitions)]
        delivery = await self._producer.send(self.topic, value=value, key=key, headers=headers,
                                             partition=partition)
        return await delivery
