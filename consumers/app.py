"""The FastStream application that ingests the four CRM topics.

Delivery is decided here, not by FastStream's defaults (which commit before
handling and start at the latest offset): one batch subscriber, no auto-commit,
positions restored from the store on assignment. Poison never raises: it is
recorded as a dead letter with its offset (``consumers/storing.py`` finds the
records the database itself refuses), and the relay publishes it. When the
database is away, the batch's partitions are rewound and tried again after a
capped backoff, with a log line now and then rather than a traceback each time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import prometheus_client
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy, FastStream
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.specification import AsyncAPI

from consumers.deadletter import DeadLetterRelay
from consumers.intake import claimed, kafka_source, sort_batch
from consumers.positions import SeekToStoredPositions
from consumers.storing import store_batch
from history.arrivals import Arrival
from history.customer_history import CustomerHistory, RecordingOutcome
from schemas.validation import without_inputs
from storage.errors import RetryPacer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Per process; a re-delivered batch counts again as consumed, never again as stored.
EVENTS_CONSUMED = prometheus_client.Counter(
    "crm_events_consumed",
    "Kafka messages read by ingestion, by the CloudEvent type they carry ('unknown': none of ours).",
    ["type"])
EVENTS_STORED = prometheus_client.Counter(
    "crm_events_stored", "Events recorded in the history, by type.", ["type"])
EVENTS_DUPLICATE = prometheus_client.Counter(
    "crm_events_duplicate", "Events not recorded again: their id was recorded before.", ["type"])
EVENTS_DEAD_LETTERED = prometheus_client.Counter(
    "crm_events_dead_lettered",
    "Messages sent to the dead-letter topic, by the type they claim ('unknown': none of ours).",
    ["type"])


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _parse_any_headers(
    records: tuple[ConsumerRecord, ...], original_parser: Callable[..., Awaitable[Any]]
) -> Any:
    """FastStream's batch parser and decoder decode every header as UTF-8 and fail
    the whole batch on one binary header, before any handler runs: a poison
    message that would stall the partition. Let the parser see text stand-ins,
    keep the records as they came for the handler and the dead-letter topic,
    and skip FastStream's decoding (``_raw_values``): the handler parses itself.
    """
    stand_ins = tuple(r if _text_headers(r.headers) else replace(
        r, headers=[(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in r.headers])
        for r in records)
    message = await original_parser(stand_ins)
    message.raw_message = records
    return message


def _text_headers(headers: Any) -> bool:
    """Whether every header value is UTF-8 already (most records have none at all)."""
    try:
        for _, value in headers:
            value.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return False
    return True


async def _raw_values(message: Any, original_decoder: Callable[..., Awaitable[Any]]) -> Any:
    return [record.value for record in message.raw_message]


def _caught_up(records: tuple[ConsumerRecord, ...], consumer: Any) -> dict[str, bool]:
    """Per partition in the batch: whether the batch reached the partition's end."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    ends = {tp: consumer.highwater(TopicPartition(*tp)) for tp in last}
    return {
        kafka_source(*tp): ends[tp] is not None and offset + 1 >= ends[tp]
        for tp, offset in last.items()
    }


def _log_dead_letters(outcome: RecordingOutcome) -> None:
    for letter in outcome.dead_letters:
        said = claimed(letter.message) if letter.message is not None else {}
        log.warning("dead-lettered %s@%d: %s", letter.source, letter.position,
                    without_inputs(letter.reason or ""),
                    extra={"event_id": said.get("id"), "customer_id": said.get("subject"),
                           "event_type": letter.event_type})


def _count(arrivals: Sequence[Arrival], outcome: RecordingOutcome) -> None:
    """Per-type counters of a batch once stored."""
    for metric, counts in ((EVENTS_CONSUMED, Counter(a.event_type for a in arrivals)),
                           (EVENTS_STORED, outcome.recorded_types),
                           (EVENTS_DUPLICATE, outcome.duplicate_types),
                           (EVENTS_DEAD_LETTERED, outcome.dead_letter_types)):
        for event_type, count in counts.items():
            metric.labels(event_type).inc(count)


def build_ingestion(
    *,
    history: CustomerHistory,
    bootstrap_servers: str,
    topics: tuple[str, ...],
    deadletter_topic: str,
    group_id: str,
    batch_size: int,
    session_timeout_ms: int,
    max_future: timedelta,
    accounts_topic: str | None = None,
    clock: Clock = utc_now,
    retry_pause_seconds: float = 1.0,
) -> FastStream:
    """``accounts_topic``: the only topic that may carry merges, unmerges and erasure
    requests (None: any); ``retry_pause_seconds``: the first pause after the database
    failed a batch, doubling up to 30 s."""
    broker = KafkaBroker(
        bootstrap_servers, client_id="crm-timeline-ingestion", logger=log, log_level=logging.DEBUG
    )
    relay = DeadLetterRelay(history, bootstrap_servers, deadletter_topic)
    pacer = RetryPacer("storing a batch", log, first_pause=retry_pause_seconds)
    # The listener needs the subscriber's consumer, which exists once it starts.
    listener = SeekToStoredPositions(history, lambda: subscriber.consumer)

    subscriber = broker.subscriber(
        *topics,
        batch=True,
        max_records=batch_size,
        group_id=group_id,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=min(3_000, session_timeout_ms // 3),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=listener,
        parser=_parse_any_headers,
        decoder=_raw_values,
        title="crm-ingestion",
        description="Upstream CloudEvents about customers; each stored exactly once.",
    )

    # Documented in the AsyncAPI document; messages are sent by DeadLetters (raw headers).
    broker.publisher(
        deadletter_topic,
        title="crm-deadletter",
        description="Rejected messages, each once per key `topic/partition/offset`: the "
        "original value and headers, the original key in dlq.key, plus dlq.reason, dlq.topic, "
        "dlq.partition, dlq.offset and dlq.rejected_at headers.",
    )

    @subscriber
    async def ingest(message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord, ...] = message.raw_message  # type: ignore[assignment]
        arrivals = sort_batch(records, now=clock(), max_future=max_future,
                              accounts_topic=accounts_topic)
        caught_up = _caught_up(records, message.consumer)
        try:
            outcome = await anyio.to_thread.run_sync(store_batch, history, arrivals, caught_up)
        except Exception as error:  # the database is away: rewind, and try again after a pause
            await asyncio.sleep(pacer.failed(error))
            raise NackMessage() from error
        pacer.succeeded()
        if outcome.dead_letters:
            relay.wake()
            _log_dead_letters(outcome)
        _count(arrivals, outcome)
        log.debug(
            "batch of %d: %d recorded, %d duplicates, %d dead-lettered, %d already stored",
            len(records),
            outcome.recorded,
            outcome.duplicates,
            outcome.dead_lettered,
            outcome.already_seen,
        )

    return FastStream(
        broker,
        logger=log,
        after_startup=[relay.start],
        after_shutdown=[relay.stop],
        specification=AsyncAPI(
            title="CRM customer timeline: ingestion",
            description="CloudEvents about customers in; rejected messages to the dead-letter topic.",
        ),
    )
