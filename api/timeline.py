"""``GET /customers/{id}/timeline``: what happened to a customer, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from api.access import requires
from api.deps import ReadSide, read_side
from api.params import CustomerId, QueryTime
from projections.paging import InvalidCursor
from projections.timeline import TimelineFilter

router = APIRouter(tags=["timeline"], dependencies=[Depends(requires("agent"))])


class TimelineLink(BaseModel):
    """Another entry's subject this one is about: a complaint's order, an order's complaint."""

    rel: Literal["order", "complaint"]
    order_id: str | None = Field(None, description="With rel `order`.")
    complaint_id: str | None = Field(None, description="With rel `complaint`.")


class TimelineEntry(BaseModel):
    event_id: str
    type: str = Field(examples=["crm.order.placed"])
    time: datetime = Field(description="When it happened (the event's own time).")
    source: str = Field(description="The upstream system that reported it.")
    channel: str | None
    summary: str = Field(examples=["Order O-1042 placed: 3 items, 129.90 EUR via web"])
    data: dict[str, Any]
    extensions: dict[str, str | int | bool] = Field(
        default_factory=dict, description="The CloudEvent's extension attributes as sent "
        "(e.g. `traceparent`, W3C trace context); {} when it had none.",
        examples=[{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}])
    position: int = Field(description="Position in the event store; breaks ties in time.")
    links: list[TimelineLink] = Field(
        default_factory=list, description="A complaint's entries link to the order it is "
        "about; an order's entries to the complaints about it.")


class TimelinePageOut(BaseModel):
    customer_id: str = Field(description="The customer the id resolves to after merges.")
    merged_ids: list[str] = Field(description="Duplicates whose history is included.")
    as_of: datetime | None = Field(None, description="The `as_of` asked for, if any.")
    known_at: datetime | None = Field(None, description="The `known_at` asked for, if any.")
    entries: list[TimelineEntry]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


# {customer_id:path}: an id may hold "/"; app.py includes this router before the 360's
# /customers/{customer_id:path}, so /customers/a/b/timeline is the timeline of "a/b".
@router.get("/customers/{customer_id:path}/timeline", response_model=TimelinePageOut,
            operation_id="getCustomerTimeline", responses={404: {"description": "A cursor this API did not hand out"}})
def customer_timeline(
    customer_id: CustomerId,
    type: Annotated[
        str | None,
        Query(description="Event type or prefix, e.g. `crm.order` or `crm.order.placed`."),
    ] = None,
    channel: Annotated[str | None, Query(description="Contact or sales channel, e.g. `web`.")] = None,
    since: Annotated[QueryTime | None, Query(
        description="Inclusive lower bound, RFC 3339 with offset, between 1900 and 9000.")] = None,
    until: Annotated[QueryTime | None, Query(
        description="Exclusive upper bound, RFC 3339 with offset, between 1900 and 9000.")] = None,
    as_of: Annotated[QueryTime | None, Query(
        description="Only what had happened by this moment (inclusive); merges as they "
        "stood then.")] = None,
    known_at: Annotated[QueryTime | None, Query(
        description="Only what the service had recorded by this moment, with merges as "
        "they stood: with `as_of` the same, exactly what a colleague saw then.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page.")] = None,
    order: Annotated[str, Query(pattern="^(newest|oldest)$")] = "newest",
    side: ReadSide = Depends(read_side),
) -> Response:
    """Every fact of the customer and of the duplicates merged into it."""
    root, members = side.group(customer_id, as_of, known_at)
    if since and until and since >= until:  # an empty range: nothing happened in it
        return _page(root, members, as_of, known_at, [], None)
    try:
        page = side.timeline().page(
            members,
            where=TimelineFilter(type_prefix=type, channel=channel, since=since, until=until,
                                 as_of=as_of, known_at=known_at),
            limit=limit or side.page_size,
            cursor=cursor,
            oldest_first=order == "oldest",
        )
    except InvalidCursor as error:  # names no page: not found, as an unknown id is
        raise HTTPException(404, str(error)) from None
    return _page(root, members, as_of, known_at, page.entries, page.next_cursor)


def _page(root: str, members: list[str], as_of: datetime | None, known_at: datetime | None,
          entries: list[Any], next_cursor: str | None) -> Response:
    # The rows are the documented shape already: sent as they are, not validated again
    # (that cost more than the query; response_model still documents them).
    return Response(orjson.dumps({"customer_id": root, "merged_ids": members[1:],
                                  "as_of": as_of, "known_at": known_at,
                                  "entries": entries, "next_cursor": next_cursor}),
                    media_type="application/json")
