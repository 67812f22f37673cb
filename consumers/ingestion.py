"""Ingestion: the four CRM topics into the customer history, exactly once, on librdkafka.

Delivery is decided here. Nothing is auto-committed: on every assignment each
partition resumes after the offset stored in the same transaction as its events
(SPEC §3), or from the beginning when nothing of it was stored yet. Offsets are
committed to Kafka as well, after each stored batch, only as a courtesy for lag
tools.

One loop in one thread fetches a batch, sorts it into facts and refusals
(``consumers/intake.py``) and stores it (``consumers/storing.py``). Poison never
raises: it is recorded as a dead letter with its offset, and the relay
(``consumers/deadletter.py``) publishes it. When the database is away the batch
is not lost: the partitions are put back at the positions the store holds, and
the batch is fetched again after a capped backoff, with a log line now and then
rather than a traceback each time.

confluent-kafka directly, not FastStream's wrapper of it. Reading alone on this
machine, FastStream's confluent broker delivered 128k messages/s where the bare
client delivered 168k. Its batch parser also decodes every header as UTF-8, so
one binary header would fail a whole batch.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from consumers.deadletter import DeadLetterRelay
from consumers.intake import KafkaRecord, claimed, kafka_source, sort_batch
from consumers.storing import store_batch
from history.arrivals import Arrival
from history.customer_history import CustomerHistory, RecordingOutcome
from messaging.logs import LIBRDKAFKA
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


class Ingestion:
    """The ingestion consumer: ``run`` until ``stop`` is set."""

    def __init__(
        self,
        history: CustomerHistory,
        *,
        client: Mapping[str, Any],
        topics: Sequence[str],
        group_id: str,
        batch_size: int,
        session_timeout_ms: int,
        max_future: timedelta,
        relay: DeadLetterRelay,
        accounts_topic: str | None = None,
        clock: Clock = utc_now,
        retry_pause_seconds: float = 1.0,
    ) -> None:
        """``client``: the librdkafka settings every client of this service shares (brokers,
        security); ``accounts_topic``: the only topic that may carry merges, unmerges and
        erasure requests (None: any); ``retry_pause_seconds``: the first pause after the
        database failed a batch, doubling up to 30 s."""
        self.history = history
        self.topics = list(topics)
        self.batch_size = batch_size
        self.max_future = max_future
        self.relay = relay
        self.accounts_topic = accounts_topic
        self.clock = clock
        self.pacer = RetryPacer("storing a batch", log, first_pause=retry_pause_seconds)
        self.config = {
            **client,
            "group.id": group_id,
            "client.id": "crm-timeline-ingestion",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # A transactional upstream's aborted messages are never stored.
            "isolation.level": "read_committed",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": min(3_000, session_timeout_ms // 3),
        }
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        consumer = Consumer(self.config, logger=LIBRDKAFKA)
        consumer.subscribe(self.topics, on_assign=self._resume_from_store)
        log.info("ingesting %s", ", ".join(self.topics))
        try:
            while not stop.is_set():
                # Wait for one message, then take what else is fetched already: a batch is
                # what arrived while the last was stored, never a wait to fill it.
                messages = consumer.consume(1, timeout=0.5)
                if messages and self.batch_size > 1:
                    messages += consumer.consume(self.batch_size - 1, timeout=0)
                records = self._fetched(messages)
                if records:
                    self._ingest(consumer, records)
        finally:
            consumer.close()

    def _fetched(self, messages: list[Any]) -> list[KafkaRecord]:
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                kind, timestamp = message.timestamp()
                records.append(KafkaRecord(message.topic(), message.partition(),
                                           message.offset(), message.key(), message.value(),
                                           message.headers() or (),
                                           None if kind == TIMESTAMP_NOT_AVAILABLE else timestamp))
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("Kafka: %s", error.str())
        return records

    def _ingest(self, consumer: Consumer, records: list[KafkaRecord]) -> None:
        arrivals = sort_batch(records, now=self.clock(), max_future=self.max_future,
                              accounts_topic=self.accounts_topic)
        try:
            outcome = store_batch(self.history, arrivals, _caught_up(records, consumer))
        except Exception as error:  # the database is away: back to the stored positions, later
            self._stop.wait(self.pacer.failed(error))
            self._resume_from_store(consumer, consumer.assignment())
            return
        self.pacer.succeeded()
        last = {(r.topic, r.partition): r.offset for r in records}
        consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                        asynchronous=True)
        if outcome.dead_letters:
            self.relay.wake()
            _log_dead_letters(outcome)
        _count(arrivals, outcome)
        log.debug("batch of %d: %d recorded, %d duplicates, %d dead-lettered, %d already stored",
                  len(records), outcome.recorded, outcome.duplicates, outcome.dead_lettered,
                  outcome.already_seen)

    def _resume_from_store(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Assign ``partitions`` at the positions after those stored (librdkafka calls this on
        every assignment; ``_ingest`` after a failed batch). Until the database answers,
        nothing is assigned: fetching what could not be stored would only fill memory."""
        sources = {kafka_source(tp.topic, tp.partition): tp for tp in partitions}
        pacer = RetryPacer("reading the stored positions", log)
        while True:
            try:
                stored = self.history.recorder.positions(list(sources))
                break
            except Exception as error:
                if self._stop.wait(pacer.failed(error)):
                    return
        for source, tp in sorted(sources.items()):
            if source in stored:
                tp.offset = stored[source] + 1
                log.debug("%s resumes after stored offset %d", source, stored[source])
            else:
                tp.offset = OFFSET_BEGINNING
                log.debug("%s starts from the beginning: nothing stored yet", source)
        fresh = len(sources) - len(stored.keys() & sources.keys())
        log.info("assigned %d partitions: %d resume after their stored offsets, %d start from "
                 "the beginning (nothing stored yet)", len(sources), len(sources) - fresh, fresh)
        consumer.assign(partitions)


def _caught_up(records: Sequence[KafkaRecord], consumer: Consumer) -> dict[str, bool]:
    """Per partition in the batch: whether the batch reached the end librdkafka last saw."""
    last = {(r.topic, r.partition): r.offset for r in records}
    caught_up = {}
    for (topic, partition), offset in last.items():
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        caught_up[kafka_source(topic, partition)] = high >= 0 and offset + 1 >= high
    return caught_up


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
