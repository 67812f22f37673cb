"""``POST /events``: publish CloudEvents over HTTP, for systems that cannot speak Kafka.

Each event is validated exactly as the Kafka consumer would; valid ones are
published to their topic (key = customer id) and acknowledged by the broker
before the answer, invalid ones are rejected with their reason. The consumer
stores them like any other event, so HTTP adds no second path into the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from kafka import KafkaProducer

from api.access import requires
from schemas.validation import InvalidEvent, parse_event

router = APIRouter(tags=["ingestion"], dependencies=[Depends(requires("ingest"))])


class EventPublisher:
    """Publishes validated events to the topic of their family; waits for acks=all."""

    def __init__(self, bootstrap_servers: str, topic_of: Callable[[str], str],
                 max_future: timedelta) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_of = topic_of
        self.max_future = max_future
        self._producer: KafkaProducer | None = None

    def publish(self, events: list[dict[str, Any]]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                           client_id="crm-timeline-http-ingest")
        sent = [self._producer.send(self.topic_of(e["type"]), key=e["subject"].encode(),
                                    value=json.dumps(e).encode()) for e in events]
        for delivery in sent:
            delivery.get(timeout=30)


@router.post("/events", status_code=202, responses={422: {"description": "no event was valid"}})
def publish_events(
    request: Request,
    body: Annotated[dict[str, Any] | list[Any], Body(description="One CloudEvent or a list.")],
) -> Any:
    """Validate and publish; the answer lists accepted ids and, per rejected event, why."""
    publisher: EventPublisher = request.app.state.publisher
    events = body if isinstance(body, list) else [body]
    now = datetime.now(UTC)
    accepted, rejected = [], []
    for index, raw in enumerate(events):
        try:
            parse_event(raw, now=now, max_future=publisher.max_future)
        except InvalidEvent as error:
            event_id = raw.get("id") if isinstance(raw, dict) else None
            rejected.append({"index": index, "id": event_id, "reason": error.reason})
        else:
            accepted.append(raw)
    if accepted:
        publisher.publish(accepted)
    answer = {"accepted": [e["id"] for e in accepted], "rejected": rejected}
    return JSONResponse(answer, status_code=202 if accepted else 422)
