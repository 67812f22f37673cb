"""``GET /alerts``: contact fatigue and consent alerts (SLA alerts join them later)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import ReadSide, read_side

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
def list_alerts(
    kind: Annotated[str | None, Query(description="e.g. contact_fatigue, outbound_without_consent")] = None,
    status: Annotated[Literal["open", "acknowledged"] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Newest first."""
    clauses, params = ["1 = 1"], []
    for column, value in (("kind", kind), ("status", status), ("customer_id", customer_id)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    with side.views.read() as db:
        db.execute(
            "SELECT alert_id, kind, customer_id, raised_time, status, details"
            f" FROM {side.alert_table} WHERE {' AND '.join(clauses)}"
            " ORDER BY raised_at DESC, alert_id LIMIT %s",
            [*params, limit],
        )
        rows = db.fetchall()
    for row in rows:
        row["details"] = json.loads(row["details"])
    return {"alerts": rows}
