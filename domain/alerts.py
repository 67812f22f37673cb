"""Alerts: what the service tells people and other systems about a customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.complaints import Verdict


@dataclass(frozen=True)
class Alert:
    """A stable id makes an alert idempotent: raising it twice is raising it once."""

    alert_id: str
    kind: str
    customer_id: str
    raised_at: datetime
    details: dict[str, Any]


def sla_alert(customer_id: str, verdict: Verdict) -> Alert:
    """A breach or an at-risk moment of a complaint deadline, as an alert."""
    return Alert(
        alert_id=verdict.alert_id,
        kind=f"sla_{verdict.kind}",
        customer_id=customer_id,
        raised_at=verdict.at,
        details={
            "complaint_id": verdict.complaint_id,
            "deadline": verdict.deadline,
            "cycle": verdict.cycle,
            "priority": verdict.priority,
            "due": verdict.due.isoformat(),
            "at": verdict.at.isoformat(),
        },
    )
