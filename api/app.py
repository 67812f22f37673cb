"""Builds the HTTP application from its collaborators; no globals, no I/O at import."""

from __future__ import annotations

from fastapi import FastAPI

from api import health, timeline
from domain.history import CustomerHistory
from storage.views import ViewDatabase


def create_api(history: CustomerHistory, views: ViewDatabase, *, page_size: int = 50) -> FastAPI:
    """The API reads the views; it holds the history too, which owns their connection pool."""
    api = FastAPI(
        title="CRM customer timeline",
        version="0.1.0",
        description="Read the memory of every customer: timelines of contacts, orders, "
        "complaints and account changes, as reported by upstream systems through Kafka.",
    )
    api.state.history = history
    api.state.views = views
    api.state.page_size = page_size
    api.include_router(timeline.router)
    api.include_router(health.router)
    return api
