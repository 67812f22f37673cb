"""``POST /admin/customers/{id}/erase``: the right to erasure, for admins at the console.

The API erases nothing itself. It publishes ``crm.account.erasure_requested``
for the customer and for every id merged into it (one person, several
records), so the erasure becomes a fact in each history like any upstream
one: the consumer destroys the customer's key in the transaction that records
it, and each projection blanks what it had copied (SPEC §5).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from api.access import Caller, requires
from api.deps import ReadSide, read_side
from api.ingest import EventPublisher
from api.models import ErasureAccepted
from api.params import CustomerId, OneLine
from schemas.validation import InvalidEvent, parse_event

log = logging.getLogger(__name__)

router = APIRouter(tags=["privacy"])

ERASURE_SOURCE = "crm-timeline/api"


@router.post("/admin/customers/{customer_id:path}/erase", status_code=202,
             operation_id="eraseCustomer", response_model=ErasureAccepted,
             responses={404: {"description": "No such customer"}})
def erase_customer(
    customer_id: CustomerId,
    request: Request,
    caller: Annotated[Caller, Depends(requires("admin"))],
    reason: Annotated[OneLine | None, Body(embed=True, max_length=200,
                                           description="Who asked, e.g. a ticket number.")] = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Request erasure of the customer's personal data (and of its merged duplicates').

    Accepted once published; the data is unreadable as soon as the consumer has
    recorded the request, usually within a second."""
    publisher: EventPublisher = request.app.state.publisher
    _, members = side.group(customer_id)
    if not any(side.history.stream_versions(members).values()):
        raise HTTPException(404, f"no customer {customer_id!r} is known")
    requested_by = f"{caller.name} via API" + (f": {reason}" if reason else "")
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": ERASURE_SOURCE,
            "type": "crm.account.erasure_requested",
            "subject": member,
            "time": now,
            "datacontenttype": "application/json",
            "data": {"requested_by": requested_by[:200]},
        }
        for member in members
    ]
    for event in events:
        # What is published here must be what the consumer records: an event it would
        # dead-letter would leave the customer unerased behind a 202.
        try:
            parse_event(event, now=datetime.now(UTC), max_future=publisher.max_future)
        except InvalidEvent as error:
            raise HTTPException(422, f"the erasure request would be refused: {error.reason}") from None
    publisher.publish(events)
    for event in events:
        log.info("erasure of %s requested", event["subject"],
                 extra={"event_id": event["id"], "customer_id": event["subject"]})
    return {"customer_ids": members, "event_ids": [e["id"] for e in events]}
