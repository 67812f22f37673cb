"""Builds the HTTP application from its collaborators; no globals, no I/O at import."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from access.keys import KeyRing
from api import (
    alerts,
    console,
    contract,
    customers,
    duplicates,
    edge,
    feed,
    ingest,
    operations,
    privacy,
    problems,
    queue,
    recommendations,
    reports,
    segment_schema,
    segments,
    sla_whatif,
    timeline,
    webhooks,
)
from api.deps import ReadSide
from domain.sla_policy import PolicyBook
from history.customer_history import CustomerHistory
from predictions.model_book import ModelBook
from projections.catalog import ReadModelCatalog
from projections.serving import Heartbeat
from storage.views import ViewDatabase
from webhooks.book import WebhookBook
from webhooks.targets import TargetPolicy


@asynccontextmanager
async def _announced(api: FastAPI) -> AsyncIterator[None]:
    """While it serves, the API says every few seconds which generation of each report it
    reads (``GET /reports``, ``crm-timeline replay``), finding newly deployed reports."""
    catalog = api.state.read_side.catalog

    def serves() -> dict[str, int]:
        catalog.discover()
        return catalog.live_generations()

    stop = threading.Event()
    beating = threading.Thread(target=Heartbeat(catalog.serving, "api", serves).run,
                               args=(stop,), name="heartbeat", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        await run_in_threadpool(beating.join, 10)


#: The document's sections, in the order a reader meets them.
TAGS = [
    {"name": "customers", "description": "Search, the 360, loyalty, duplicates, recommendations."},
    {"name": "timeline", "description": "What happened to a customer, newest first."},
    {"name": "alerts", "description": "SLA, fatigue, consent and anomaly alerts; acknowledging."},
    {"name": "queue", "description": "The agent's work, soonest due first."},
    {"name": "reports", "description": "Reports as JSON or CSV; rebuilding read models (admin)."},
    {"name": "segments", "description": "Segments by rule: members, history, counts."},
    {"name": "ingestion", "description": "Publishing CloudEvents over HTTP (ingest keys)."},
    {"name": "events", "description": "The event store in order, for tools that catch up."},
    {"name": "privacy", "description": "Erasure requests (admin)."},
    {"name": "sla", "description": "What a candidate SLA policy book would judge (admin)."},
    {"name": "operations", "description": "Probes, metrics and the AsyncAPI document (public)."},
]


def _no_policy_parser(text: str) -> PolicyBook:
    raise ValueError("this API was built without an SLA policy parser")


def create_api(
    history: CustomerHistory,
    views: ViewDatabase,
    catalog: ReadModelCatalog,
    publisher: ingest.EventPublisher,
    asyncapi: str,
    status: operations.Operations,
    *,
    page_size: int = 50,
    max_body_bytes: int = 1 << 20,
    max_events_per_request: int = 500,
    sla_policy_parser: sla_whatif.PolicyParser | None = None,
    webhook_targets: TargetPolicy | None = None,
) -> FastAPI:
    """The API reads the views and the customers' streams in the history;
    ``sla_policy_parser`` reads a candidate SLA policy book (``POST /admin/sla/what-if``);
    ``webhook_targets`` says which URLs webhooks may be registered for."""
    api = FastAPI(
        title="CRM customer timeline",
        version="0.1.0",
        description="Read the memory of every customer: timelines of contacts, orders, "
        "complaints and account changes, as reported by upstream systems through Kafka.",
        lifespan=_announced,
        openapi_tags=TAGS,
    )
    problems.answer_problems(api)
    api.state.read_side = ReadSide(history, catalog, page_size, ModelBook(views))
    api.state.keys = KeyRing(views)
    api.state.rebuilds = reports.Rebuilds()
    api.state.publisher = publisher
    api.state.max_events_per_request = max_events_per_request
    api.state.asyncapi = asyncapi
    api.state.operations = status
    api.state.sla_policy_parser = sla_policy_parser or _no_policy_parser
    api.state.webhooks = WebhookBook(views)
    api.state.webhook_targets = webhook_targets or TargetPolicy()
    # The last added runs first: headers go on every answer, the body limit and the
    # character rules hold before any route (or key check) runs.
    api.add_middleware(edge.PlainParameters)
    api.add_middleware(edge.BodyLimit, max_bytes=max_body_bytes)
    api.add_middleware(operations.RequestTimer)
    docs = {api.docs_url, api.redoc_url, api.swagger_ui_oauth2_redirect_url}
    api.add_middleware(edge.SecurityHeaders, docs_paths=frozenset(p for p in docs if p))
    # The timeline before the customers' routes: /customers/{customer_id:path} would
    # take /customers/a/b/timeline for the 360 of "a/b/timeline".
    api.include_router(timeline.router)
    api.include_router(duplicates.router)
    api.include_router(recommendations.router)
    api.include_router(customers.router)
    api.include_router(alerts.router)
    api.include_router(queue.router)
    api.include_router(reports.router)
    api.include_router(segments.router)
    api.include_router(ingest.router)
    api.include_router(feed.router)
    api.include_router(privacy.router)
    api.include_router(sla_whatif.router)
    api.include_router(webhooks.router)
    api.webhooks.include_router(webhooks.outgoing)
    api.include_router(operations.router)
    api.include_router(console.router)
    api.mount("/static", console.static_files(), name="static")
    contract.as_contract(api, lambda document: document["components"]["schemas"].update(
        segment_schema.condition_schemas()))
    return api
