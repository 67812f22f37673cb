"""The products a customer bought, and the past complaints about each: the 360 card's
"products and past issues", so an agent sees at once that the grinder came back twice.

Per SKU: units bought and orders holding it, net of cancelled orders; the last time it
was bought; net spend per currency, where a refund (it names an order, not a line) is
spread over the order's lines pro rata by line value (quantity x unit price; the order's
``amount`` may differ by shipping or vouchers, so lines are the measure); and the
complaints about it. A complaint names its product by ``sku``, or by ``order_id``: then
it is about every SKU of that order (with both, the ``sku`` alone). A product only
complained about (or only in cancelled orders and complained about) is listed too, with
nothing bought, after the bought ones: the issue is the agent's business either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.complaints import Complaint

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str | None
    quantity: int
    value: Decimal  # quantity x unit price


def order_lines(items: Iterable[Mapping[str, Any]] | None) -> tuple[OrderLine, ...]:
    """The lines of an order's ``items`` (an order may have none: the source knew the total)."""
    return tuple(OrderLine(i["sku"], i.get("name"), int(i["quantity"]),
                           Decimal(str(i["unit_price"])) * int(i["quantity"]))
                 for i in items or ())


class BoughtOrder(Protocol):
    """What the 360 fold keeps of an order (``domain.customer360._Order``)."""

    order_id: str
    placed_at: datetime
    currency: str
    refunded: Decimal
    cancelled: bool
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class ComplaintSubject:
    """What a complaint is about, as its opening said (either may be absent)."""

    order_id: str | None
    sku: str | None


def complaint_subject(data: Mapping[str, Any]) -> ComplaintSubject | None:
    """The subject of a ``crm.complaint.opened`` payload; None when it names neither (old
    facts lack both keys)."""
    order_id, sku = data.get("order_id"), data.get("sku")
    return ComplaintSubject(order_id, sku) if order_id or sku else None


def complaint_entry(complaint: Complaint, subject: ComplaintSubject | None) -> dict[str, Any]:
    """A complaint as the 360 lists it, with the order and product it is about."""
    return {
        "complaint_id": complaint.complaint_id,
        "opened_at": complaint.opened_at,
        "status": "open" if complaint.is_open else "resolved",
        "category": complaint.category,
        "priority": complaint.priority,
        "order_id": subject.order_id if subject else None,
        "sku": subject.sku if subject else None,
    }


@dataclass
class _Bought:
    """One SKU's figures so far, over orders not cancelled."""

    name: str | None = None
    units: int = 0
    orders: dict[str, datetime] = field(default_factory=dict)  # order id -> placed at
    last_time: datetime | None = None
    spend: dict[str, list[Any]] = field(default_factory=dict)  # currency -> [net, lines]


class ProductBook:
    """Per SKU figures kept up to date order by order, so a view of a customer with
    hundreds of orders does not walk them all (the 360 is viewed after every batch).

    The fold tells it each order's lines as they count: ``count(order, +1)`` when it is
    placed, ``count(order, -1)`` before it changes (cancelled, refunded, placed again)
    and ``+1`` after. A currency's spend is dropped with its last line, so an order
    taken back leaves no rounding dust behind.
    """

    def __init__(self) -> None:
        self._skus: dict[str, _Bought] = {}

    def named(self, order: BoughtOrder) -> None:
        """The products' names as the newest order says them (cancelled or not)."""
        for line in order.lines:
            bought = self._skus.setdefault(line.sku, _Bought())
            bought.name = line.name or bought.name

    def count(self, order: BoughtOrder, sign: int) -> None:
        if order.cancelled or not order.lines:
            return
        total = sum((line.value for line in order.lines), Decimal(0))
        kept = max(total - order.refunded, Decimal(0)) / total if total else Decimal(0)
        for line in order.lines:
            bought = self._skus.setdefault(line.sku, _Bought())
            bought.units += sign * line.quantity
            spend = bought.spend.setdefault(order.currency, [Decimal(0), 0])
            spend[0] += sign * line.value * kept
            spend[1] += sign
            if not spend[1]:
                del bought.spend[order.currency]
            if sign > 0:
                bought.orders[order.order_id] = order.placed_at
                if bought.last_time is None or order.placed_at > bought.last_time:
                    bought.last_time = order.placed_at
            elif bought.orders.pop(order.order_id, None) == bought.last_time:
                bought.last_time = max(bought.orders.values(), default=None)

    def products(self, orders: Mapping[str, BoughtOrder], complaints: Mapping[str, Complaint],
                 subjects: Mapping[str, ComplaintSubject]) -> list[dict[str, Any]]:
        """Every product bought or complained about, newest bought first (then by SKU)."""
        about: dict[str, list[dict[str, Any]]] = {}
        for complaint_id, subject in subjects.items():
            complaint = complaints.get(complaint_id)
            if complaint is None:
                continue
            order = orders.get(subject.order_id) if subject.order_id else None
            skus = [subject.sku] if subject.sku else list(dict.fromkeys(
                line.sku for line in (order.lines if order else ())))
            for sku in skus:
                about.setdefault(sku, []).append(complaint_entry(complaint, subject))
        listed = []
        for sku in sorted(self._skus.keys() | about.keys()):
            bought = self._skus.get(sku) or _Bought()
            if not bought.orders and sku not in about:
                continue
            listed.append({
                "sku": sku, "name": bought.name, "count": bought.units,
                "orders": len(bought.orders), "last_time": bought.last_time,
                "net_spend": {c: str(v.quantize(CENT)) for c, (v, _) in sorted(bought.spend.items())},
                "complaints": sorted(about.get(sku, []), key=lambda c: (c["opened_at"],
                                                                        c["complaint_id"]),
                                     reverse=True),
            })
        bought_ones = [p for p in listed if p["last_time"] is not None]
        bought_ones.sort(key=lambda p: p["last_time"], reverse=True)  # stable: ties by SKU
        return bought_ones + [p for p in listed if p["last_time"] is None]
