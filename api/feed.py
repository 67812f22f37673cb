"""``GET /events``: the event store in store order, for tools that catch up without Kafka.

A reader keeps the ``next_after`` of each page and asks for the events after it; the
positions are the store's own (``position`` of each entry), so a page never skips
or repeats an event, whatever was recorded meanwhile. Each entry carries the event
as a CloudEvent, as it was recorded.

Agents and admins read it (it is the history the timelines show). Personal fields
(``schemas.registry.personal_fields``) are left out, absent, for every key but an
admin's, as exports leave them out unless asked (``exports/sources.py``); an erased
customer's are null even for an admin: their key is destroyed (SPEC §5).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from access.keys import Caller
from api.access import requires
from api.deps import ReadSide, read_side
from api.models import Moment
from domain.facts import FACT_CLASSES, CustomerFact, stored_topic
from exports.sources import without_personal

router = APIRouter(tags=["events"])


class FeedEvent(BaseModel):
    """The recorded event as a CloudEvent (structured mode)."""

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    subject: str = Field(description="The customer id.")
    time: Moment = Field(description="When it happened.")
    datacontenttype: str = "application/json"
    data: dict[str, Any]


class FeedEntry(BaseModel):
    position: int = Field(description="Its place in the store; pass the last one as `after`.")
    recorded_at: Moment = Field(description="When this service recorded it.")
    event: FeedEvent


class FeedPage(BaseModel):
    events: list[FeedEntry]
    next_after: int = Field(description="Pass as `after` for the next page (the last "
                            "position read, or `after` again when nothing was new).")
    store_position: int = Field(description="The newest position in the store now: caught "
                                "up when `next_after` reaches it.")
    personal_data: bool = Field(description="Whether personal fields are included (admin "
                                "keys only).")


def _topics(prefix: str | None) -> list[str] | None:
    """The store's topics of the types ``prefix`` names (a type, or a family such as
    ``crm.order``); None: every type; ``[]``: none."""
    if prefix is None:
        return None
    return [stored_topic(t) for t in FACT_CLASSES if t == prefix or t.startswith(prefix + ".")]


def _entry(position: int, fact: CustomerFact, personal: bool) -> dict[str, Any]:
    data = fact.data if personal else without_personal(fact.event_type, fact.data)
    return {"position": position, "recorded_at": fact.timestamp.isoformat(),
            "event": {"specversion": "1.0", "id": fact.event_id, "source": fact.source,
                      "type": fact.event_type, "subject": fact.customer_id,
                      "time": fact.occurred_at.isoformat(),
                      "datacontenttype": "application/json", "data": data}}


@router.get("/events", operation_id="listEvents", response_model=FeedPage)
def event_feed(
    caller: Annotated[Caller, Depends(requires("agent"))],
    after: Annotated[int, Query(ge=0, le=2**62, description="The position to read after: 0 "
                                "from the start, else the `next_after` of the last page.")] = 0,
    type: Annotated[str | None, Query(
        min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$",
        description="Only this event type, or family (`crm.order`).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Events recorded after ``after``, oldest first, at most ``limit`` of them."""
    recorder = side.history.recorder
    personal = caller.role == "admin"
    topics = _topics(type)
    stored = [] if topics == [] else recorder.select_notifications(
        start=after, limit=limit, topics=topics or (), inclusive_of_start=False)
    facts = side.history.facts_of(stored, personal_data=personal)
    events = [_entry(n.id, fact, personal) for n, fact in zip(stored, facts, strict=True)]
    return {"events": events, "next_after": stored[-1].id if stored else after,
            "store_position": recorder.max_notification_id() or 0, "personal_data": personal}
