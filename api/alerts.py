"""Alerts for agents: list them with the customer's current owner, acknowledge them (who
and when is recorded).

Acknowledging is agents' work: an agent key records its agent id (its name when it
names none). Only an admin may record someone else (``by``), e.g. acknowledging for
a colleague on leave; an agent sending a ``by`` other than itself is refused (403),
so the record always says who really acknowledged. The owner is read from the live
360 rows at read time: reassigning a customer moves its open alerts to the new owner.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from api.access import Agent, requires
from api.deps import ReadSide, read_side
from api.models import Alert, Alerts
from api.params import OneLine

router = APIRouter(tags=["alerts"], dependencies=[Depends(requires("agent"))])


@router.get("/alerts", operation_id="listAlerts", response_model=Alerts)
def list_alerts(
    kind: Annotated[str | None, Query(description="sla_breach, sla_at_risk, contact_fatigue, "
                                                  "outbound_without_consent, anomaly, "
                                                  "follow_up_overdue")] = None,
    status: Annotated[Literal["open", "acknowledged"] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Newest first, each with the customer's current ``owner`` (``{id, name}`` or null)."""
    with side.views.read() as db:
        rows = side.alert_book.listing(db, kind=kind, status=status, customer_id=customer_id,
                                       limit=limit)
    return {"alerts": with_owners(side, rows)}


def with_owners(side: ReadSide, rows: list[Any]) -> list[Any]:
    """The alert rows with the owner of each one's customer now."""
    owners = side.owners(sorted({row["customer_id"] for row in rows}))
    for row in rows:
        row["owner"] = owners.get(row["customer_id"], {}).get("owner")
    return rows


class Acknowledgement(BaseModel):
    by: OneLine | None = Field(
        None, min_length=1, max_length=100,
        description="Who acknowledges; only an admin may name someone else. Default: the "
        "key's agent id, else its name.")


# :path: an alert id holds the complaint id, which may hold "/" (sent as %2F, decoded
# before routing).
@router.post("/alerts/{alert_id:path}/ack", operation_id="acknowledgeAlert", response_model=Alert,
             responses={404: {"description": "No such alert"}})
def acknowledge_alert(
    alert_id: Annotated[str, Path(min_length=1, max_length=300)],
    caller: Agent,
    body: Acknowledgement | None = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Mark an alert acknowledged; the first acknowledgement stands (repeating it is harmless)."""
    by = body.by if body and body.by else caller.who
    if by != caller.who and caller.role != "admin":
        raise HTTPException(403, f"an agent acknowledges in their own name ({caller.who!r}); "
                                 f"only an admin key may record {by!r}")
    with side.views.write() as db:
        alert = side.alert_book.acknowledge(db, alert_id, by, datetime.now(UTC))
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return with_owners(side, [alert])[0]
