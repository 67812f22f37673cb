"""Alerts for agents: list them, acknowledge them (who and when is recorded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from api.access import Admin, requires
from api.deps import ReadSide, read_side
from api.params import OneLine

router = APIRouter(tags=["alerts"], dependencies=[Depends(requires("agent"))])


@router.get("/alerts")
def list_alerts(
    kind: Annotated[str | None, Query(description="sla_breach, sla_at_risk, contact_fatigue, "
                                                  "outbound_without_consent")] = None,
    status: Annotated[Literal["open", "acknowledged"] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Newest first."""
    with side.views.read() as db:
        rows = side.alert_book.listing(db, kind=kind, status=status, customer_id=customer_id,
                                       limit=limit)
    return {"alerts": rows}


class Acknowledgement(BaseModel):
    by: OneLine | None = Field(None, min_length=1, max_length=100,
                           description="Who acknowledges (agent id); default: the API key's name.")


# :path: an alert id holds the complaint id, which may hold "/" (sent as %2F, decoded
# before routing).
@router.post("/alerts/{alert_id:path}/ack")
def acknowledge_alert(
    alert_id: Annotated[str, Path(min_length=1, max_length=300)],
    caller: Admin,
    body: Acknowledgement | None = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Mark an alert acknowledged; the first acknowledgement stands (repeating it is harmless)."""
    by = body.by if body and body.by else caller.name
    with side.views.write() as db:
        alert = side.alert_book.acknowledge(db, alert_id, by, datetime.now(UTC))
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return alert
