"""Building CloudEvents the way upstream teams publish them, for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime.now(UTC).replace(microsecond=0)


def cloud_event(
    event_type: str,
    subject: str,
    *,
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
    source: str = "tests/upstream",
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": (at or NOW).isoformat(),
        "datacontenttype": "application/json",
        "data": data if data is not None else {},
    }


def contact(subject: str, at: datetime, channel: str = "phone", **extra: Any) -> dict[str, Any]:
    data = {"channel": channel, "direction": "inbound", "agent_id": "A-001",
            "subject": "delivery date", "outcome": "resolved", "duration_seconds": 120}
    return cloud_event("crm.contact.logged", subject, at=at, data=data, **extra)


def order(subject: str, at: datetime, order_id: str, amount: str = "129.90", **extra: Any) -> dict[str, Any]:
    data = {
        "order_id": order_id,
        "amount": amount,
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "name": "Grinder", "quantity": 1, "unit_price": amount}],
        "channel": "web",
    }
    return cloud_event("crm.order.placed", subject, at=at, data=data, **extra)


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)
