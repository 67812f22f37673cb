"""Operators' endpoints, public like a load balancer's probes: ``/healthz`` (the process
answers), ``/readyz`` (fit to serve), ``/metrics`` (Prometheus), and the AsyncAPI document."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import AsyncApiDocument, Health, Readiness

router = APIRouter(tags=["operations"])

API_REQUEST_SECONDS = Histogram(
    "crm_api_request_duration_seconds", "HTTP API latency, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))


class Operations(Protocol):
    """What the operators' endpoints ask of the service (``operations.status``)."""

    def readiness(self) -> tuple[list[str], dict[str, Any]]:
        """Why the service is not fit to serve (nothing: it is), and a summary of its lag."""
        ...

    def metrics(self) -> bytes:
        """Prometheus' text exposition of this process's counters and the service's lag."""
        ...


@router.get("/healthz", operation_id="getHealth", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="getReadiness", response_model=Readiness,
            responses={503: {"description": "Not ready, with the reasons", "model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    """Ready when Kafka and the database answer and every read model is within
    ``CRM_READY_MAX_LAG_SECONDS`` of the history; 503 with the reasons otherwise."""
    reasons, summary = request.app.state.operations.readiness()
    if reasons:
        return JSONResponse({"status": "not ready", "reasons": reasons, **summary}, 503)
    return JSONResponse({"status": "ready", **summary})


@router.get("/metrics", response_class=Response, operation_id="getMetrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition"}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.operations.metrics(), media_type=CONTENT_TYPE_LATEST)


@router.get("/asyncapi.json", operation_id="getAsyncApi", response_model=AsyncApiDocument)
def asyncapi(request: Request) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the Kafka side (``schemas/asyncapi.py``), as OpenAPI is
    of HTTP: every topic read or written, its payloads, key and headers. Rendered as a page
    at ``/asyncapi``."""
    return json.loads(request.app.state.asyncapi)


class RequestTimer:
    """ASGI middleware observing each request's latency under its route template
    (``/customers/{customer_id}/timeline``, never the id itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # path_format: the template without converters ({customer_id}, not
            # {customer_id:path}), as the OpenAPI document names it.
            matched = scope.get("route")
            route = getattr(matched, "path_format", None) or getattr(matched, "path", "unmatched")
            API_REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started)
