"""How far behind the service is: consumer lag, projection lag, dead letters, alert outbox.

One gathering serves three readers: ``crm-timeline status`` (an operator's
screen), ``GET /readyz`` (is this instance fit to serve) and ``GET /metrics``
(Prometheus gauges, next to the counters each process keeps where it counts:
``consumers.ingestion`` events by type, ``projections.runner`` facts applied,
``api.operations`` API latency). Everything is read from Kafka's offsets and the database
at the moment of asking, so it is the same whichever process asks, and a part
that cannot be reached is reported as a problem instead of failing the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.intake import kafka_source
from history.customer_history import CustomerHistory
from messaging.clients import kafka_python_options
from projections.catalog import ReadModelCatalog
from webhooks.book import WebhookBook


@dataclass(frozen=True)
class PartitionLag:
    """An ingestion partition: Kafka's end offset against the offset stored with the events."""

    topic: str
    partition: int
    first: int  # earliest offset Kafka still holds
    end: int  # offset the next message will get
    stored: int | None  # last offset recorded in the history, None before the first
    advanced_at: datetime | None = None  # when a batch last advanced ``stored``
    stalled_seconds: float = 0.0  # how long it has had lag without advancing (0: it has not)

    @property
    def lag(self) -> int:
        return self.end - (self.first if self.stored is None else self.stored + 1)


@dataclass(frozen=True)
class ProjectionLag:
    """A read model's tracked position against the last event recorded in the history."""

    name: str
    position: int
    behind: int  # events recorded after the position (ids may have gaps: at most this many)
    seconds: float  # how long the first event it has not applied has been recorded


@dataclass
class Status:
    checked_at: datetime
    recorded: int | None = None  # the history's last notification id
    partitions: list[PartitionLag] = field(default_factory=list)
    projections: list[ProjectionLag] = field(default_factory=list)
    dead_letters: int | None = None  # rejected messages recorded (each once)
    dead_letter_backlog: int | None = None  # of which not yet on the dead-letter topic
    set_aside: dict[str, int] = field(default_factory=dict)  # read model -> not acknowledged
    outbox_backlog: int | None = None
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> count
    webhooks: dict[str, int] = field(default_factory=dict)  # delivery status -> count
    unreachable: dict[str, str] = field(default_factory=dict)  # "kafka"/"database" -> why

    @property
    def problems(self) -> list[str]:
        return list(self.unreachable.values())

    @property
    def consumer_lag(self) -> int:
        return sum(p.lag for p in self.partitions)


class KafkaOffsets:
    """First and end offsets of topics from one kafka-python consumer, kept between calls
    (made again after a failure, so a broker that comes back is seen again)."""

    def __init__(self, client: Mapping[str, Any], timeout_ms: int = 5000) -> None:
        """``client``: how every Kafka client of the service connects (librdkafka's names)."""
        self.client = client
        self.timeout_ms = timeout_ms
        self._consumer: KafkaConsumer | None = None
        self._lock = threading.Lock()  # the consumer is not thread-safe; the API is threaded

    def ranges(self, topics: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
        with self._lock:
            try:
                if self._consumer is None:
                    self._consumer = KafkaConsumer(
                        **kafka_python_options(self.client), group_id=None,
                        enable_auto_commit=False, client_id="crm-timeline-status",
                        request_timeout_ms=self.timeout_ms, bootstrap_timeout_ms=self.timeout_ms,
                    )
                consumer = self._consumer
                partitions = [TopicPartition(topic, p) for topic in topics
                              for p in sorted(consumer.partitions_for_topic(topic) or ())]
                first = consumer.beginning_offsets(partitions)
                end = consumer.end_offsets(partitions)
            except Exception:
                self.close()
                raise
        return {(tp.topic, tp.partition): (first[tp], end[tp]) for tp in partitions}

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


class ServiceStatus:
    """The service's lag, gathered afresh from Kafka and the database at each call."""

    def __init__(self, history: CustomerHistory, catalog: ReadModelCatalog,
                 kafka: KafkaOffsets, *, ingestion_topics: tuple[str, ...],
                 ready_max_lag_seconds: float, ready_max_stall_seconds: float) -> None:
        self.history = history
        self.views = catalog.views
        self.catalog = catalog
        self.kafka = kafka
        self.ingestion_topics = ingestion_topics
        self.ready_max_lag_seconds = ready_max_lag_seconds
        self.ready_max_stall_seconds = ready_max_stall_seconds
        # Per partition with lag: (stored offset, when first seen there with lag). Stalls are
        # told from what this process has watched: one look cannot tell a stall from a
        # message that arrived a moment ago.
        self._waiting: dict[str, tuple[int | None, datetime]] = {}
        self._watch = threading.Lock()

    def gather(self) -> Status:
        status = Status(checked_at=datetime.now(UTC))
        try:
            self._read_kafka(status)
        except Exception as error:
            brokers = self.kafka.client["bootstrap.servers"]
            status.unreachable["kafka"] = f"Kafka at {brokers}: {_said(error)}"
        try:
            self._read_database(status)
        except Exception as error:
            status.unreachable.setdefault("database", f"database: {_said(error)}")
        return status

    def _read_kafka(self, status: Status) -> None:
        ranges = self.kafka.ranges(list(self.ingestion_topics))
        sources = {kafka_source(t, p): (t, p) for t, p in ranges}
        try:
            stored = self.history.recorder.positions(list(sources))
            advanced = self.history.recorder.source_progress()
        except Exception as error:
            status.unreachable["database"] = f"database: {_said(error)}"
            return
        for source, (topic, partition) in sorted(sources.items()):
            lag = PartitionLag(topic, partition, *ranges[(topic, partition)], stored.get(source),
                               advanced.get(source))
            status.partitions.append(replace(
                lag, stalled_seconds=self._stalled_seconds(source, lag, status.checked_at)))

    def _stalled_seconds(self, source: str, lag: PartitionLag, now: datetime) -> float:
        """How long this process has seen ``source`` with lag and the same stored offset."""
        with self._watch:
            if lag.lag <= 0:
                self._waiting.pop(source, None)
                return 0.0
            stored, since = self._waiting.get(source, (lag.stored, now))
            if stored != lag.stored:
                since = now
            self._waiting[source] = (lag.stored, since)
            return (now - since).total_seconds()

    def _read_database(self, status: Status) -> None:
        recorded = status.recorded = self.history.recorder.max_notification_id() or 0
        for model in self.catalog.describe():
            name, position = model["tracking_name"], model["position"]
            seconds = 0.0
            if position < recorded:
                waiting = self.history.recorder.select_notifications(start=position + 1, limit=1)
                if waiting:
                    fact = self.history.facts_of(waiting, personal_data=False)[0]
                    seconds = max(0.0, (status.checked_at - fact.timestamp).total_seconds())
            status.projections.append(ProjectionLag(name, position, recorded - position, seconds))
        with self.views.read() as db:
            status.outbox_backlog = self.catalog.alert_book.backlog(db)
            status.alerts = self.catalog.alert_book.counts(db)
            status.set_aside = self.catalog.set_aside.unacknowledged(db)
            status.webhooks = WebhookBook(self.views).counts(db)
        status.dead_letters, status.dead_letter_backlog = self.history.recorder.dead_letter_counts()

    def readiness(self) -> tuple[list[str], dict[str, Any]]:
        """Fit to serve: Kafka and the database answer, no read model is further behind than
        ``ready_max_lag_seconds``, no partition with lag has stood still for longer than
        ``ready_max_stall_seconds``, and no read model has set facts aside that nobody has
        acknowledged. The reasons it is not (none: it is), and the lag."""
        status = self.gather()
        reasons = list(status.problems)
        reasons += [f"read model {p.name} is {p.seconds:.1f} s behind "
                    f"(over {self.ready_max_lag_seconds:g} s)"
                    for p in status.projections if p.seconds > self.ready_max_lag_seconds]
        reasons += [f"partition {p.topic}/{p.partition} has not advanced for "
                    f"{p.stalled_seconds:.1f} s with {p.lag} messages waiting "
                    f"(over {self.ready_max_stall_seconds:g} s)"
                    for p in status.partitions if p.stalled_seconds > self.ready_max_stall_seconds]
        reasons += [f"read model {name} has set aside {count} facts it could not apply "
                    "(crm-timeline projections set-aside list; acknowledge with "
                    "crm-timeline projections set-aside ack)"
                    for name, count in sorted(status.set_aside.items())]
        summary = {"consumer_lag": status.consumer_lag,
                   "projection_lag_seconds": {p.name: round(p.seconds, 3)
                                              for p in status.projections},
                   "facts_set_aside": status.set_aside}
        return reasons, summary

    def metrics(self) -> bytes:
        """This process's counters (the global registry) and the lag, as Prometheus text."""
        lag = CollectorRegistry(auto_describe=False)
        lag.register(StatusCollector(self))
        return generate_latest(REGISTRY) + generate_latest(lag)


class StatusCollector(Collector):
    """Consumer lag, projection lag, dead letters, outbox backlog and alerts as gauges."""

    def __init__(self, status: ServiceStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self.status.gather()
        up = GaugeMetricFamily("crm_dependency_up", "Whether Kafka and the database answered "
                               "this scrape (1) or not (0).", labels=["dependency"])
        for dependency in ("kafka", "database"):
            up.add_metric([dependency], 0 if dependency in status.unreachable else 1)
        yield up
        lag = GaugeMetricFamily("crm_consumer_lag", "Messages on an ingestion partition not yet "
                                "recorded in the history.", labels=["topic", "partition"])
        for partition in status.partitions:
            lag.add_metric([partition.topic, str(partition.partition)], partition.lag)
        yield lag
        if status.recorded is not None:
            yield GaugeMetricFamily("crm_history_position", "Last notification id recorded in "
                                    "the history.", value=status.recorded)
        position = GaugeMetricFamily("crm_projection_position", "Last history position a "
                                     "read model applied.", labels=["read_model"])
        behind = GaugeMetricFamily("crm_projection_lag_events", "History positions a read model "
                                   "has not applied yet.", labels=["read_model"])
        seconds = GaugeMetricFamily("crm_projection_lag_seconds", "How long the oldest event a "
                                    "read model has not applied has been recorded.",
                                    labels=["read_model"])
        for projection in status.projections:
            position.add_metric([projection.name], projection.position)
            behind.add_metric([projection.name], projection.behind)
            seconds.add_metric([projection.name], projection.seconds)
        yield from (position, behind, seconds)
        if status.dead_letters is not None:
            yield GaugeMetricFamily("crm_dead_letters", "Rejected messages recorded (each once; "
                                    "the relay publishes them to the dead-letter topic).",
                                    value=status.dead_letters)
        if status.dead_letter_backlog is not None:
            yield GaugeMetricFamily("crm_dead_letter_backlog", "Dead letters recorded but not "
                                    "yet acknowledged by the dead-letter topic.",
                                    value=status.dead_letter_backlog)
        set_aside = GaugeMetricFamily("crm_projection_set_aside_unacknowledged", "Facts a read "
                                      "model set aside that nobody has acknowledged.",
                                      labels=["read_model"])
        for name, count in sorted(status.set_aside.items()):
            set_aside.add_metric([name], count)
        yield set_aside
        stalled = GaugeMetricFamily("crm_consumer_stalled_seconds", "How long an ingestion "
                                    "partition with lag has not advanced (as watched by this "
                                    "process).", labels=["topic", "partition"])
        for partition in status.partitions:
            stalled.add_metric([partition.topic, str(partition.partition)],
                               partition.stalled_seconds)
        yield stalled
        if status.outbox_backlog is not None:
            yield GaugeMetricFamily("crm_alert_outbox_backlog", "Alerts raised but not yet "
                                    "published to the alerts topic.", value=status.outbox_backlog)
        alerts = GaugeMetricFamily("crm_alerts", "Alerts in the alert book.",
                                   labels=["kind", "status"])
        for (kind, state), count in sorted(status.alerts.items()):
            alerts.add_metric([kind, state], count)
        yield alerts
        if status.outbox_backlog is not None:  # the database answered
            deliveries = GaugeMetricFamily(
                "crm_webhook_deliveries", "Webhook deliveries by status (pending: queued or "
                "retrying; failed: given up).", labels=["status"])
            for state in ("pending", "delivered", "failed"):
                deliveries.add_metric([state], status.webhooks.get(state, 0))
            yield deliveries


def _said(error: Exception) -> str:
    said, kind = str(error), type(error).__name__
    return (said if said.startswith(kind) else f"{kind}: {said}".rstrip(": "))[:300]
