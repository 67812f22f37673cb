"""Sorting one Kafka batch into facts to record and messages to dead-letter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Protocol

import orjson

from domain.facts import FACT_CLASSES, ReportedFact
from schemas.validation import InvalidEvent, ValidEvent, parse_kafka_message

log = logging.getLogger(__name__)


class KafkaRecord(Protocol):
    """The parts of a consumed record ingestion reads (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def kafka_source(topic: str, partition: int) -> str:
    """The tracking name of a partition: its offsets are positions in the history's store."""
    return f"kafka:{topic}/{partition}"


@dataclass
class Rejected:
    """A message that cannot be stored, kept whole so that nothing is lost."""

    record: KafkaRecord
    reason: str

    @cached_property
    def claimed(self) -> dict[str, str]:
        """The CloudEvent ``type``, ``id`` and ``subject`` the message claims, as far as
        they can be read (ce_* headers, else the JSON body): for logs and counters."""
        claimed: dict[str, object] = {}
        try:
            body = orjson.loads(self.record.value or b"")
            if isinstance(body, dict):
                claimed.update(body)
        except orjson.JSONDecodeError:
            pass
        for name, header in self.record.headers or ():
            if name.startswith("ce_"):
                claimed[name[3:]] = (header or b"").decode("utf-8", "replace")
        return {k: v[:200] for k in ("type", "id", "subject")
                if isinstance(v := claimed.get(k), str)}

    @property
    def declared_type(self) -> str:
        """The event type claimed if it is one of ours, else 'unknown': poison cannot
        invent metric label values."""
        claimed = self.claimed.get("type")
        return claimed if claimed in FACT_CLASSES else "unknown"


@dataclass
class Intake:
    """``positions``: (source, offset, fact or None for a rejected message), in batch order."""

    positions: list[tuple[str, int, ReportedFact | None]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def sort_batch(
    records: Sequence[KafkaRecord], *, now: datetime, max_future: timedelta
) -> Intake:
    intake = Intake()
    for record in records:
        source = kafka_source(record.topic, record.partition)
        fact_or_reason = _read(record, now=now, max_future=max_future)
        if isinstance(fact_or_reason, str):
            intake.rejected.append(Rejected(record, fact_or_reason))
            intake.positions.append((source, record.offset, None))
        else:
            intake.positions.append((source, record.offset, fact_or_reason))
    return intake


def _read(record: KafkaRecord, *, now: datetime, max_future: timedelta) -> ReportedFact | str:
    """The fact a record reports, or the reason it cannot be stored."""
    try:
        valid = parse_kafka_message(
            list(record.headers or ()), record.value, now=now, max_future=max_future
        )
    except InvalidEvent as error:
        return error.reason
    except Exception as error:  # a validator bug must not stall the partition either
        log.exception("validating %s@%d failed unexpectedly", record.topic, record.offset)
        return f"could not be validated: {type(error).__name__}: {error}"
    return reported_fact(valid)


def reported_fact(valid: ValidEvent) -> ReportedFact:
    """A validated event as the customer history records it: its data as the schema
    dumps it (every field)."""
    event = valid.event
    return ReportedFact(
        event_id=event.id,
        event_type=event.type,
        source=event.source,
        customer_id=event.subject,
        occurred_at=event.time,
        data=valid.data_json,
    )
