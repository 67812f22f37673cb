"""The composition root: the one place where settings become a running service.

Every entry point (CLI commands, tests) builds its parts here, so the wiring of
store, read models, Kafka ingestion and API is visible in one module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
from fastapi import FastAPI
from psycopg import sql

from access.keys import KeyRing
from api.app import create_api
from api.ingest import EventPublisher
from consumers.deadletter import DeadLetterRelay
from consumers.ingestion import Clock, Ingestion, utc_now
from domain.sla_policy import PolicyBook
from history.customer_history import CustomerHistory
from operations.status import KafkaOffsets, ServiceStatus
from outbox.relay import OutboxRelay
from predictions.model_book import ModelBook
from projections.alerts import AlertBook
from projections.catalog import CUSTOMER_360, TIMELINE, LiveGenerations, ReadModelCatalog
from projections.complaint_sla import ComplaintSlaProjection
from projections.follow_ups import FollowUpProjection
from projections.generation_policies import GenerationPolicies
from projections.runner import ProjectionLoop
from projections.segments import SegmentBook, SegmentKeeper
from schemas.asyncapi import KafkaTopics, asyncapi_document
from schemas.published import alert_cloudevent, segment_cloudevent
from schemas.registry import EVENT_TYPES, personal_fields
from service.settings import Settings
from service.sla_config import parse_policy_book
from storage.views import SCHEMA_LOCK, ViewDatabase
from webhooks.book import WebhookBook
from webhooks.delivery import DeliveryWorker, RetryPolicy
from webhooks.fanout import WebhookFanOut
from webhooks.targets import TargetPolicy

_SQLITE_LOCK_SECONDS = 30


def history_environment(settings: Settings) -> dict[str, str]:
    """The eventsourcing library's configuration, derived from our settings."""
    transcoder = {"TRANSCODER_TOPIC": "storage.fact_transcoder:FactTranscoder"}
    if settings.store == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            **transcoder,
            "PERSISTENCE_MODULE": "storage.sqlite_datastore:SQLiteStoreFactory",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": str(_SQLITE_LOCK_SECONDS),
            "PROCESS_RECORDER_TOPIC": "storage.sqlite:SQLiteHistoryRecorder",
        }
    return {
        **transcoder,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": settings.postgres_dbname,
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password,
        "POSTGRES_SCHEMA": settings.postgres_schema,
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # A projection holds its write transaction while it reads the history on other
        # connections and folds: a catch-up batch can leave it idle longer than the
        # library's 5 s, and the server would end it (and the batch) midway.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "120",
        "PROCESS_RECORDER_TOPIC": "storage.postgres:PostgresHistoryRecorder",
    }


@contextmanager
def _creating_tables(settings: Settings) -> Iterator[None]:
    """Two processes starting together (consumer and projector) must not create tables
    at once: PostgreSQL's CREATE ... IF NOT EXISTS is not safe against that."""
    if settings.store == "sqlite":
        yield
        return
    with psycopg.connect(settings.postgres_dsn(), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def build_history(settings: Settings) -> CustomerHistory:
    with _creating_tables(settings):
        if settings.store == "postgres":
            with psycopg.connect(settings.postgres_dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(settings.postgres_schema)))
        return CustomerHistory(env=history_environment(settings), personal_fields=personal_fields)


def build_views(settings: Settings, history: CustomerHistory) -> ViewDatabase:
    """The read models' database (the history's database and connection pool), with every
    table the service reads made: the read models' (``catalog.create_tables``) and the
    API keys'. The one place tables are made, however many processes start at once."""
    with _creating_tables(settings):
        views = ViewDatabase(history.recorder.datastore)  # type: ignore[attr-defined]
    # Each takes the schema lock in its transaction (ViewDatabase.create_tables).
    build_catalog(settings, history, views).create_tables()
    KeyRing(views).create_tables()
    ModelBook(views).create_tables()
    SegmentBook(views).create_tables()
    WebhookBook(views).create_tables()
    WebhookFanOut(views, WebhookBook(views)).create_tables()  # after the outboxes
    return views


def build_catalog(
    settings: Settings, history: CustomerHistory, views: ViewDatabase
) -> ReadModelCatalog:
    own = settings.policies()
    return ReadModelCatalog(history, views, own, settings.shard(), GenerationPolicies(
        views, own, settings.policy_record(), type(settings).policies_from),
        follow_up_wait=timedelta(hours=settings.follow_up_hours))


def build_projection_loop(settings: Settings, history: CustomerHistory, views: ViewDatabase,
                          catalog: ReadModelCatalog,
                          names: Sequence[str] | None = None, *,
                          new_reports: bool = True) -> ProjectionLoop:
    """The read models ``names`` (default: those ``CRM_PROJECTIONS`` chooses), following the
    history in one loop: the live generation of each rebuildable one, and with the
    complaint SLA and the follow-ups their clocks; with ``new_reports``, also report modules deployed while it
    runs that ``CRM_PROJECTIONS`` picks. ``UnknownReadModel`` for a name the catalog does
    not know."""
    chosen = catalog.chosen(settings.projections) if names is None else list(names)
    core = [catalog.live(name) for name in chosen if name not in catalog.rebuildable]
    clocks = [(settings.sla_check_seconds, model.check_due) for model in core
              if isinstance(model, ComplaintSlaProjection | FollowUpProjection)]
    generations = LiveGenerations(catalog, [n for n in chosen if n in catalog.rebuildable],
                                  selection=settings.projections if new_reports else None)
    return ProjectionLoop(history, views, core, batch_size=settings.projection_batch_size,
                          poll_seconds=settings.projection_poll_seconds, periodic=clocks,
                          more=generations.read_models, following=generations.following)


def build_projection_loops(settings: Settings, history: CustomerHistory, views: ViewDatabase,
                           catalog: ReadModelCatalog) -> list[ProjectionLoop]:
    """The loops of a ``project`` process: the timeline in one of its own when others are
    chosen with it, so a new event reaches the agents' timeline without waiting for the
    360's refolds and the reports (each loop is a thread; the timeline's batches are
    small); every other chosen read model in a second loop."""
    chosen = catalog.chosen(settings.projections)
    lanes = [[TIMELINE], [n for n in chosen if n != TIMELINE]] if (
        TIMELINE in chosen and len(chosen) > 1) else [chosen]
    return [build_projection_loop(settings, history, views, catalog, lane,
                                  new_reports=lane != [TIMELINE] or len(lanes) == 1)
            for lane in lanes]


def build_alert_relay(settings: Settings, views: ViewDatabase) -> OutboxRelay:
    return OutboxRelay(views, AlertBook(views), settings.kafka_client(), settings.topic_alerts,
                       id_header="alert_id", as_cloudevent=alert_cloudevent)


def build_segment_relay(settings: Settings, views: ViewDatabase) -> OutboxRelay:
    return OutboxRelay(views, SegmentBook(views), settings.kafka_client(),
                       settings.topic_segments, id_header="change_id",
                       as_cloudevent=segment_cloudevent)


def build_webhook_worker(settings: Settings, views: ViewDatabase, *,
                         clock: Clock = utc_now, settle_seconds: float = 1.0) -> DeliveryWorker:
    """The webhook fan-out from the alert and segment outboxes, and the delivery worker;
    ``clock`` and ``settle_seconds`` (``WebhookFanOut``) for tests."""
    book = WebhookBook(views)
    return DeliveryWorker(
        book, WebhookFanOut(views, book, clock=clock, settle_seconds=settle_seconds),
        retry=RetryPolicy(settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds,
                          settings.webhook_max_attempts),
        targets=webhook_targets(settings), timeout_seconds=settings.webhook_timeout_seconds,
        clock=clock)


def webhook_targets(settings: Settings) -> TargetPolicy:
    return TargetPolicy(allow_http_localhost=settings.webhooks_allow_http_localhost)


def build_segment_keeper(settings: Settings, catalog: ReadModelCatalog) -> SegmentKeeper:
    """Segment membership following the live 360 (rows every shard has committed)."""
    def settled() -> int:
        live = catalog.generations(CUSTOMER_360)[0]
        return min(catalog.views.position(shard.name) or 0
                   for shard in catalog.every_shard(CUSTOMER_360, live))

    return SegmentKeeper(SegmentBook(catalog.views), lambda: catalog.live(CUSTOMER_360),
                         ModelBook(catalog.views), settled=settled,
                         sweep_seconds=settings.segment_sweep_seconds)


def build_ingestion(
    settings: Settings, history: CustomerHistory, *, clock: Clock = utc_now
) -> Ingestion:
    """The ingestion consumer, with the relay that publishes its dead letters."""
    return Ingestion(
        history,
        client=settings.kafka_client(),
        topics=settings.ingestion_topics,
        group_id=settings.consumer_group,
        batch_size=settings.consumer_batch_size,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        max_future=timedelta(seconds=settings.max_future_seconds),
        relay=DeadLetterRelay(history, settings.kafka_client(), settings.topic_deadletter,
                              group_id=settings.consumer_group),
        accounts_topic=settings.topic_accounts,
        clock=clock,
    )


def build_status(settings: Settings, history: CustomerHistory, views: ViewDatabase) -> ServiceStatus:
    return ServiceStatus(history, build_catalog(settings, history, views),
                         KafkaOffsets(settings.kafka_client()),
                         ingestion_topics=settings.ingestion_topics,
                         ready_max_lag_seconds=settings.ready_max_lag_seconds,
                         ready_max_stall_seconds=settings.ready_max_stall_seconds)


def build_api(settings: Settings, history: CustomerHistory, views: ViewDatabase) -> FastAPI:
    publisher = EventPublisher(settings.kafka_client(), settings.topic_for,
                               timedelta(seconds=settings.max_future_seconds))
    return create_api(history, views, build_catalog(settings, history, views), publisher,
                      json.dumps(build_asyncapi(settings)), build_status(settings, history, views),
                      page_size=settings.api_page_size,
                      max_body_bytes=settings.api_max_body_bytes,
                      max_events_per_request=settings.api_max_events_per_request,
                      sla_policy_parser=_candidate_policy_book,
                      webhook_targets=webhook_targets(settings))


def build_asyncapi(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI document of this deployment's topics (names from settings)."""
    names = {settings.topic_contacts: "contacts", settings.topic_orders: "orders",
             settings.topic_complaints: "complaints", settings.topic_accounts: "accounts"}
    ingestion = {topic: [t for t in EVENT_TYPES if settings.topic_for(t) == topic]
                 for topic in settings.ingestion_topics}
    return asyncapi_document(KafkaTopics(
        bootstrap_servers=settings.kafka_bootstrap, consumer_group=settings.consumer_group,
        ingestion=ingestion, deadletter=settings.topic_deadletter, alerts=settings.topic_alerts,
        segments=settings.topic_segments, names=names))


def _candidate_policy_book(text: str) -> PolicyBook:
    """A candidate SLA policy book sent to ``POST /admin/sla/what-if``."""
    return parse_policy_book(text, source="candidate SLA policy")
