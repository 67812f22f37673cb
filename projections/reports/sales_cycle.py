"""Sales cycle: days from a customer's start (account opening or first contact, whichever
came first) to the first order, by acquisition channel and the month of the start.

Each customer is remembered by three times and a channel, so a fact that arrives
late (a contact before the opening, an older first order) moves the customer to
the row and the figure it belongs to: the rows always equal a fold in event time.
An order before the start (a guest checkout, then an account) is a cycle of 0 days.
A merged customer counts once (``per_customer``).
"""

from __future__ import annotations

from datetime import datetime

from domain.facts import CustomerFact
from projections.reports.base import Doc, ReportRows, instant, shares
from projections.reports.per_customer import CustomerReport

UNKNOWN = "unknown"
#: Conversions counted within these many days of the start.
WITHIN_DAYS = (7, 30, 90)


class SalesCycle(CustomerReport):
    name = "sales_cycle"
    title = "Sales cycle: days from first contact or opening to first order"
    customer_reads = frozenset({"crm.account.opened", "crm.contact.logged", "crm.order.placed"})
    columns = ("month", "channel", "customers", "converted", "conversion",
               "mean_days_to_first_order", *(f"within_{d}_days" for d in WITHIN_DAYS))
    period = "month"

    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        customer = dict(state or {"start": None, "first_order": None, "channel": UNKNOWN,
                                  "opened_at": None})
        at = instant(fact)
        if fact.event_type == "crm.account.opened":
            customer["channel"] = fact.data.get("acquisition_channel") or UNKNOWN
            customer["opened_at"] = min(filter(None, (customer.get("opened_at"), at)))
        if fact.event_type == "crm.order.placed":
            customer["first_order"] = min(filter(None, (customer["first_order"], at)))
        else:
            customer["start"] = min(filter(None, (customer["start"], at)))
        return None if customer == state else customer  # a later contact: nothing moves

    def merged(self, states: list[Doc]) -> Doc:
        """One customer from the earliest start and first order of its ids, acquired by the
        channel of its earliest opening."""
        opened = sorted((s for s in states if s.get("opened_at")), key=lambda s: s["opened_at"])
        return {"start": min(filter(None, (s["start"] for s in states)), default=None),
                "first_order": min(filter(None, (s["first_order"] for s in states)), default=None),
                "channel": opened[0]["channel"] if opened else states[0]["channel"],
                "opened_at": opened[0]["opened_at"] if opened else None}

    def count(self, rows: ReportRows, customer: Doc, sign: int) -> None:
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

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["conversion"] = shares(row["converted"], row["customers"])
            row["mean_days_to_first_order"] = (round(row["days"] / row["converted"], 1)
                                               if row["converted"] else None)
        return [row for row in rows if row["customers"]]


REPORT = SalesCycle
