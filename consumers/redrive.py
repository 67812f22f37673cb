"""Reading the dead-letter topic and re-driving its messages after a fix.

A dead letter is named ``PARTITION:OFFSET`` on the dead-letter topic. The relay
publishes each rejected message at least once under one key (its source
``topic/partition/offset``); readers keep the first copy of each key. Re-driving
publishes its original key, value and headers to the topic it came from, plus a
``dlq.redriven_from`` header naming the letter. That is safe to repeat: the
consumer stores an event id once, so a letter stored already is not stored
again, and one that is still wrong is dead-lettered again with a fresh reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from consumers.deadletter import (
    CLASS_HEADER,
    CONTENT_TYPE,
    GROUP_HEADER,
    KEY_HEADER,
    TIMESTAMP_HEADER,
)
from messaging.clients import kafka_python_options
from schemas.published import ORIGINAL_CONTENT_TYPE_HEADER

REDRIVEN_FROM = "dlq.redriven_from"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None  # the original message's key
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]  # as sent upstream, without the dlq.* ones
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    rejected_at: str
    redriven_from: str | None  # the letter it is a re-drive of, if it is one
    error_class: str = "unknown"  # letters published before classes existed have none
    timestamp_ms: int | None = None  # the original record's timestamp
    consumer_group: str | None = None  # the group that rejected it

    @property
    def name(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def identity(self) -> tuple[str, int, int]:
        """The rejected message it stands for: copies of one letter share it."""
        return self.source_topic, self.source_partition, self.source_offset

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        headers = list(record.headers or ())
        dlq = {k: (v or b"").decode("utf-8", "replace") for k, v in headers if k.startswith("dlq.")}
        return cls(
            partition=record.partition, offset=record.offset,
            key=next((v for k, v in headers if k == KEY_HEADER), None), value=record.value,
            headers=sent_headers(headers),
            reason=dlq.get("dlq.reason", "?"),
            source_topic=dlq.get("dlq.topic", "?"),
            source_partition=int(dlq.get("dlq.partition", -1)),
            source_offset=int(dlq.get("dlq.offset", -1)),
            rejected_at=dlq.get("dlq.rejected_at", "?"),
            redriven_from=dlq.get(REDRIVEN_FROM),
            error_class=dlq.get(CLASS_HEADER) or "unknown",
            timestamp_ms=int(stamp) if (stamp := dlq.get(TIMESTAMP_HEADER, "")).isdigit() else None,
            consumer_group=dlq.get(GROUP_HEADER),
        )


def sent_headers(headers: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    """A letter's original headers as they were sent: without the ``dlq.*`` ones and the
    letter's own ``content-type``, the original ``content-type`` back in its place."""
    return tuple((CONTENT_TYPE if k == ORIGINAL_CONTENT_TYPE_HEADER else k, v)
                 for k, v in headers
                 if k == ORIGINAL_CONTENT_TYPE_HEADER or not (k.startswith("dlq.")
                                                              or k == CONTENT_TYPE))


def parse_name(name: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` as two numbers; ValueError with what was expected."""
    partition, _, offset = name.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise ValueError(f"a dead letter is named PARTITION:OFFSET, e.g. 0:17 (got {name!r})")
    return int(partition), int(offset)


def read_to_end(client: Mapping[str, Any], topic: str, *, stall_seconds: float = 30) -> list[Any]:
    """Every record of ``topic`` from the beginning to its end now (never waiting for more).

    Raises KafkaTimeoutError when nothing arrives for ``stall_seconds`` before the end: a
    broker gone mid-read must not leave an operator's command hanging.
    """
    consumer = KafkaConsumer(**kafka_python_options(client), group_id=None,
                             enable_auto_commit=False, client_id="crm-timeline-reader")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        progressed = time.monotonic()
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            polled = consumer.poll(timeout_ms=1000)
            if polled:
                progressed = time.monotonic()
            elif time.monotonic() - progressed > stall_seconds:
                raise KafkaTimeoutError(f"no records from {topic} for {stall_seconds:.0f} s "
                                        f"before its end ({len(records)} read)")
            for batch in polled.values():
                records += [r for r in batch if r.offset < end[TopicPartition(r.topic, r.partition)]]
        return records
    finally:
        consumer.close()


def read_dead_letters(client: Mapping[str, Any], topic: str, *, reason: str | None = None,
                      error_class: str | None = None, names: Sequence[str] = (),
                      latest_only: bool = False) -> list[DeadLetter]:
    """The letters on ``topic``, oldest first; only those whose reason contains ``reason``,
    of the class ``error_class``, or those ``names`` names, if given.

    ``latest_only`` leaves out letters that were re-driven and rejected again: their newer
    copy stands for them, and re-driving both would double the message at each re-drive.
    """
    wanted = {parse_name(n) for n in names}
    letters = list(first_copies(DeadLetter.of(r) for r in read_to_end(client, topic)))
    superseded = {letter.redriven_from for letter in letters} if latest_only else set()
    return sorted((letter for letter in letters
                   if (reason is None or reason.lower() in letter.reason.lower())
                   and (error_class is None or letter.error_class == error_class)
                   and (not wanted or (letter.partition, letter.offset) in wanted)
                   and f"{topic}:{letter.name}" not in superseded),
                  key=lambda letter: (letter.rejected_at, letter.partition, letter.offset))


def first_copies(letters: Iterable[DeadLetter]) -> Iterator[DeadLetter]:
    """Each rejected message once: the relay may publish a letter again after a crash."""
    seen: set[tuple[str, int, int]] = set()
    for letter in letters:
        if letter.identity not in seen:
            seen.add(letter.identity)
            yield letter


def redrive(client: Mapping[str, Any], topic: str, letters: Sequence[DeadLetter]) -> int:
    """Publish each letter as it came to its source topic; return how many Kafka acknowledged."""
    producer = KafkaProducer(**kafka_python_options(client), acks="all",
                             client_id="crm-timeline-redrive")
    try:
        sent = [producer.send(letter.source_topic, key=letter.key, value=letter.value,
                              headers=[*letter.headers,
                                       (REDRIVEN_FROM, f"{topic}:{letter.name}".encode())])
                for letter in letters]
        producer.flush()
        for delivery in sent:
            delivery.get(timeout=30)
        return len(sent)
    finally:
        producer.close()
