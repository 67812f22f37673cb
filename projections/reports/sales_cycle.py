"""Sales cycle: days from a customer's start (account opening or first contact, whichever
came first) to the first order, by acquisition channel and the month of the start.

Each customer is remembered by three times and a channel, so a fact that arrives
late (a contact before the opening, an older first order) moves the customer to
the row and the figure it belongs to: the rows always equal a fold in event time.
An order before the start (a guest checkout, then an account) is a cycle of 0 days.
"""

from __future__ import annotations

from datetime import datetime

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows, instant, shares

UNKNOWN = "unknown"
#: Conversions counted within these many days of the start.
WITHIN_DAYS = (7, 30, 90)


class SalesCycle(Report):
    name = "sales_cycle"
    title = "Sales cycle: days from first contact or opening to first order"
    reads = frozenset({"crm.account.opened", "crm.contact.logged", "crm.order.placed"})
    columns = ("month", "channel", "customers", "converted", "conversion",
               "mean_days_to_first_order", *(f"within_{d}_days" for d in WITHIN_DAYS))

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (fact.customer_id,)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        known = rows.recall(fact.customer_id)
        customer = dict(known or {"start": None, "first_order": None, "channel": UNKNOWN})
        at = instant(fact)
        if fact.event_type == "crm.account.opened":
            customer["channel"] = fact.data.get("acquisition_channel") or UNKNOWN
        if fact.event_type == "crm.order.placed":
            customer["first_order"] = min(filter(None, (customer["first_order"], at)))
        else:
            customer["start"] = min(filter(None, (customer["start"], at)))
        if customer == known:
            return  # a later contact: nothing moves
        if known is not None:
            _count(rows, known, -1)
        _count(rows, customer, +1)
        rows.remember(fact.customer_id, customer)

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["conversion"] = shares(row["converted"], row["customers"])
            row["mean_days_to_first_order"] = (round(row["days"] / row["converted"], 1)
                                               if row["converted"] else None)
        return [row for row in rows if row["customers"]]


def _count(rows: ReportRows, customer: Doc, sign: int) -> None:
    """Count (``sign`` +1) or uncount (-1) one customer in the row of its start."""
    if customer["start"] is None:
        return  # only orders so far: no cycle has started
    start = datetime.fromisoformat(customer["start"])
    month, channel = start.strftime("%Y-%m"), customer["channel"]
    row = rows.row(f"{month}|{channel}", month=month, channel=channel, customers=0, converted=0,
                   days=0.0, **{f"within_{d}_days": 0 for d in WITHIN_DAYS})
    row["customers"] += sign
    if customer["first_order"] is None:
        return
    days = max((datetime.fromisoformat(customer["first_order"]) - start).total_seconds(), 0) / 86_400
    row["converted"] += sign
    row["days"] = round(row["days"] + sign * days, 6)
    for limit in WITHIN_DAYS:
        row[f"within_{limit}_days"] += sign * (days <= limit)


REPORT = SalesCycle
