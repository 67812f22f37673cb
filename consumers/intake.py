"""Sorting one Kafka batch into facts to record and messages to dead-letter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from domain.facts import FACT_CLASSES, ReportedFact
from history.arrivals import Arrival, Message
from schemas.kafka_binding import content_mode
from schemas.registry import PRIVILEGED_TYPES
from schemas.text import printable
from schemas.validation import InvalidEvent, ValidEvent, parse_kafka_message

log = logging.getLogger(__name__)

#: The error class of a privileged type read from a topic other than the accounts topic.
WRONG_TOPIC = "wrong_topic"
#: The error class of a message the validator itself failed on (a bug, never the sender's).
VALIDATOR_FAILED = "validator_failed"


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One consumed message, as ingestion reads it (``consumers/ingestion.py`` makes them
    from librdkafka's messages)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int | None = None  # the broker's record timestamp, if it has one


def kafka_source(topic: str, partition: int) -> str:
    """The tracking name of a partition: its offsets are positions in the history's store."""
    return f"kafka:{topic}/{partition}"


def parse_kafka_source(source: str) -> tuple[str, int]:
    """(topic, partition) of a ``kafka_source`` name."""
    topic, _, partition = source.removeprefix("kafka:").rpartition("/")
    return topic, int(partition)


def claimed(message: Message) -> dict[str, str]:
    """The CloudEvent ``type``, ``id`` and ``subject`` a message claims, as far as they can
    be read (ce_* headers in binary mode, else the JSON body), escaped and cut short: for
    logs and counters."""
    found: dict[str, object] = {}
    try:
        body = orjson.loads(message.value or b"")
        if isinstance(body, dict):
            found.update(body)
    except orjson.JSONDecodeError:
        pass
    try:
        binary = content_mode(message.headers) == "binary"
    except InvalidEvent:
        binary = False
    for name, header in message.headers if binary else ():
        if name.startswith("ce_"):
            found[name[3:]] = (header or b"").decode("utf-8", "replace")
    return {k: printable(v) for k in ("type", "id", "subject") if isinstance(v := found.get(k), str)}


def declared_type(message: Message) -> str:
    """The event type claimed if it is one of ours, else 'unknown': poison cannot invent
    metric label values."""
    claimed_type = claimed(message).get("type")
    return claimed_type if claimed_type in FACT_CLASSES else "unknown"


def sort_batch(
    records: Sequence[KafkaRecord], *, now: datetime, max_future: timedelta,
    accounts_topic: str | None = None,
) -> list[Arrival]:
    """Every record, in batch order, as the fact it reports or the reason it reports none.

    ``accounts_topic``, if given, is the only topic that may carry the privileged types
    (merges, unmerges, erasure requests: ``schemas.registry.PRIVILEGED_TYPES``)."""
    arrivals = []
    for record in records:
        source = kafka_source(record.topic, record.partition)
        message = Message(record.key, record.value, tuple(record.headers or ()),
                          record.timestamp_ms)
        fact_or_refusal = _read(record, now=now, max_future=max_future)
        if (accounts_topic is not None and isinstance(fact_or_refusal, ReportedFact)
                and fact_or_refusal.event_type in PRIVILEGED_TYPES
                and record.topic != accounts_topic):
            fact_or_refusal = Refusal(f"type {fact_or_refusal.event_type} is accepted only on "
                                      f"{accounts_topic}, whose publishers Kafka ACLs restrict "
                                      f"(got it on {record.topic})", WRONG_TOPIC)
        if isinstance(fact_or_refusal, Refusal):
            arrivals.append(Arrival(source, record.offset, None, message, fact_or_refusal.reason,
                                    claimed_type=declared_type(message),
                                    error_class=fact_or_refusal.error_class))
        else:
            arrivals.append(Arrival(source, record.offset, fact_or_refusal, message))
    return arrivals


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a record reports no fact: the prose and the error class (``dlq.error.class``)."""

    reason: str
    error_class: str


def _read(record: KafkaRecord, *, now: datetime, max_future: timedelta) -> ReportedFact | Refusal:
    """The fact a record reports, or why it cannot be stored."""
    try:
        valid = parse_kafka_message(
            list(record.headers or ()), record.value, now=now, max_future=max_future
        )
    except InvalidEvent as error:
        return Refusal(error.reason, error.error_class)
    except Exception as error:  # a validator bug must not stall the partition either
        log.exception("validating %s@%d failed unexpectedly", record.topic, record.offset)
        return Refusal(printable(f"could not be validated: {type(error).__name__}: {error}",
                                 500), VALIDATOR_FAILED)
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
        extensions=valid.extensions or None,
        schema_id=valid.schema_id,
    )
