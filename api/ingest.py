"""``POST /events``: publish CloudEvents over HTTP, for systems that cannot speak Kafka.

Each event is validated exactly as the Kafka consumer would; valid ones are
published to their topic (key = customer id) and acknowledged by the broker
before the answer, invalid ones are rejected with their reason. The consumer
stores them like any other event, so HTTP adds no second path into the store.

The body is read raw and decoded as strictly as a Kafka message
(``schemas.validation.decode_json``: no NaN or Infinity, no name twice in an
object), within the request body limit (``api.edge.BodyLimit``) and at most
``max_events`` events a request. Merges, unmerges and erasure requests need a
key with an explicit permission for their type (``access/keys.py``).
"""

from __future__ import annotations

import email.message
import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from confluent_kafka import KafkaError
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from api import problems
from api.access import Ingest
from api.models import Published
from messaging.sending import Sender
from schemas.published import CLOUDEVENTS_JSON
from schemas.validation import InvalidEvent, decode_json, parse_event

router = APIRouter(tags=["ingestion"])

#: The body: one CloudEvent of a type this service reads, or a list of them. Each type's
#: schema is its file in ``schemas/json/`` (``schemas.export``), under
#: ``components.schemas`` (``api.contract``); the route reads its body raw, so FastAPI
#: cannot describe it by itself, and validates it as the Kafka consumer does.
_EVENT = {"$ref": "#/components/schemas/IncomingEvent"}
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": "One CloudEvent (structured mode, JSON) or a list of them, at most "
        "`CRM_API_MAX_EVENTS_PER_REQUEST` (500) events and `CRM_API_MAX_BODY_BYTES` (1 MiB). "
        "Merges, unmerges and erasure requests need a key with the permission for their type.",
        "content": {"application/json": {"schema": {
            "anyOf": [_EVENT, {"type": "array", "items": _EVENT, "minItems": 1}]}}},
    }
}


#: Headers of every event ``POST /events`` publishes: the whole CloudEvent is the value.
STRUCTURED = [("content-type", CLOUDEVENTS_JSON.encode())]


class EventPublisher:
    """Publishes validated events to the topic of their family; waits for acks=all."""

    def __init__(self, client: Mapping[str, Any], topic_of: Callable[[str], str],
                 max_future: timedelta) -> None:
        """``client``: the librdkafka settings every client of this service shares."""
        self.client = client
        self.topic_of = topic_of
        self.max_future = max_future
        self._sender: Sender | None = None
        self._connecting = threading.Lock()

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Publish ``events``, keyed by customer; raise ``KafkaException`` unless the brokers
        took every one."""
        with self._connecting:  # on first use: an API that only reads never connects
            if self._sender is None:
                self._sender = Sender(self.client, **{"client.id": "crm-timeline-http-ingest"})
        refused: list[KafkaError] = []  # this request's: requests share the producer
        for event in events:  # structured mode, declared as the Kafka binding says
            self._sender.send(self.topic_of(event["type"]), json.dumps(event).encode(),
                              key=event["subject"].encode(), headers=STRUCTURED,
                              on_refused=refused.append)
        self._sender.flush(30, refused)


async def _raw_body(request: Request) -> bytes:
    """The body as sent (the limit has been enforced before any route ran)."""
    return await request.body()


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # as FastAPI reads a body without one
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


@router.post(
    "/events",
    status_code=202,
    openapi_extra=_EVENTS_BODY,
    operation_id="publishEvents",
    response_model=Published,
    responses={
        400: {"description": "The body is not JSON this service reads (NaN, a name twice, ...)"},
        403: {"description": "Every event needs a permission the key does not have "
              "(`/problems/forbidden`, with `accepted` and `rejected`)",
              "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/EventsProblem"}}}},
        413: {"description": "Over the body size limit or the number of events a request"},
        415: {"description": "The body is not JSON"},
        422: {"description": "No event was valid (`/problems/invalid-events`, with `accepted` "
              "and `rejected`: why each was refused)",
              "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/EventsProblem"}}}},
    },
)
def publish_events(
    request: Request,
    caller: Ingest,
    body: Annotated[bytes, Depends(_raw_body)],
) -> JSONResponse:
    """Validate and publish; the answer lists accepted ids and, per rejected event, why.
    202 when any was published, 422 when none was valid, 403 when the only reason was a
    missing permission (merges, unmerges and erasure requests need one)."""
    publisher: EventPublisher = request.app.state.publisher
    max_events: int = request.app.state.max_events_per_request
    if not _is_json(request.headers.get("content-type")):
        raise HTTPException(415, "the body must be JSON (Content-Type: application/json): one "
                            "CloudEvent or a list of them")
    try:
        decoded = decode_json(body, "the request body")
    except InvalidEvent as error:
        reason = error.reason
        raise HTTPException(400, reason if reason.startswith("the request body")
                            else f"the request body is {reason}") from None
    if not isinstance(decoded, dict | list):
        raise HTTPException(400, "the request body must be one CloudEvent (a JSON object) or a "
                            f"list of them, not {type(decoded).__name__}")
    events = decoded if isinstance(decoded, list) else [decoded]
    if len(events) > max_events:
        raise HTTPException(413, f"a request carries at most {max_events} events "
                            f"(CRM_API_MAX_EVENTS_PER_REQUEST); this one has {len(events)}: "
                            "send them in several requests (nothing was published)")
    now = datetime.now(UTC)
    # JSON text holds control characters and lone surrogates only as backslash escapes.
    text_checked = b"\\" not in body
    accepted, rejected, refused = [], [], 0
    for index, raw in enumerate(events):
        try:
            valid = parse_event(raw, now=now, max_future=publisher.max_future,
                                text_checked=text_checked)
        except InvalidEvent as error:
            reason = error.reason
        else:
            reason = caller.refusal_to_publish(valid.event.type)
            if reason is None:
                accepted.append(raw)
                continue
            refused += 1
        event_id = raw.get("id") if isinstance(raw, dict) else None
        rejected.append({"index": index, "id": event_id, "reason": reason})
    if accepted:
        publisher.publish(accepted)
    answer: dict[str, Any] = {"accepted": [e["id"] for e in accepted], "rejected": rejected}
    if accepted:
        return JSONResponse(answer, status_code=202)
    if rejected and refused == len(rejected):
        return problems.response(problems.problem(
            "forbidden", f"the key {caller.name!r} may not publish these events: "
            f"{rejected[0]['reason']}", instance=request.url.path, **answer))
    shown = "; ".join(f"event {r['index']}: {r['reason']}" for r in rejected[:3])
    more = f"; and {len(rejected) - 3} more" if len(rejected) > 3 else ""
    return problems.response(problems.problem(
        "invalid-events", f"no event was valid: {shown}{more}", instance=request.url.path,
        **answer))
