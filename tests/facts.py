"""Building stored customer facts by hand, for tests of folds over them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.facts import FACT_CLASSES, CustomerFact, customer_stream_id

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_sequence = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def fact(event_type: str, at: datetime, customer: str = "C-1", **data: Any) -> CustomerFact:
    n = next(_sequence)
    return FACT_CLASSES[event_type](
        originator_id=customer_stream_id(customer),
        originator_version=n,
        timestamp=T + timedelta(microseconds=n),
        event_id=f"e-{n}",
        source="tests",
        customer_id=customer,
        occurred_at=at,
        data=data,
    )


def order(at: datetime, order_id: str, amount: str, currency: str = "EUR", **kw: Any) -> CustomerFact:
    return fact("crm.order.placed", at, order_id=order_id, amount=amount, currency=currency,
                items=[], **kw)


def contact(at: datetime, direction: str = "inbound", channel: str = "phone", **kw: Any) -> CustomerFact:
    return fact("crm.contact.logged", at, channel=channel, direction=direction, **kw)
