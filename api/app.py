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
    customers,
    duplicates,
    edge,
    ingest,
    operations,
    privacy,
    recommendations,
    reports,
    timeline,
)
from api.deps import ReadSide
from history.customer_history import CustomerHistory
from predictions.model_book import ModelBook
from projections.catalog import ReadModelCatalog
from projections.serving import Heartbeat
from storage.views import ViewDatabase


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
) -> FastAPI:
    """The API reads the views and the customers' streams in the history."""
    api = FastAPI(
        title="CRM customer timeline",
        version="0.1.0",
        description="Read the memory of every customer: timelines of contacts, orders, "
        "complaints and account changes, as reported by upstream systems through Kafka.",
        lifespan=_announced,
    )
    api.state.read_side = ReadSide(history, catalog, page_size, ModelBook(views))
    api.state.keys = KeyRing(views)
    api.state.publisher = publisher
    api.state.max_events_per_request = max_events_per_request
    api.state.asyncapi = asyncapi
    api.state.operations = status
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
    api.include_router(reports.router)
    api.include_router(ingest.router)
    api.include_router(privacy.router)
    api.include_router(operations.router)
    api.include_router(console.router)
    api.mount("/static", console.static_files(), name="static")
    ingest.document_cloud_event(api)
    return api
