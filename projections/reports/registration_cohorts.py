"""Registration cohorts as a retention triangle: of the customers who registered in a
month (the cohort), the share ordering in each month since (month 0 is the
registration month).

A customer is in the cohort of its earliest opening; orders stored before the opening
count once it arrives. A merged customer counts once: in the cohort of its earliest
registered id, with the order months of all its ids. ``since``/``until`` pick cohorts.
"""

from __future__ import annotations

from domain.facts import CustomerFact
from projections.reports.base import Doc, ReportRows, month_of, shares
from projections.reports.per_customer import CustomerReport


def _offset(cohort: str, month: str) -> int:
    (cy, cm), (y, m) = map(int, cohort.split("-")), map(int, month.split("-"))
    return (y - cy) * 12 + (m - cm)


class RegistrationCohorts(CustomerReport):
    name = "registration_cohorts"
    title = "Registration cohorts: share of customers ordering in each month since registration"
    customer_reads = frozenset({"crm.account.opened", "crm.order.placed"})
    columns = ("cohort", "customers", "ordering", "share_ordering")
    period = "cohort"

    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        customer = state or {"cohort": None, "order_months": []}
        month = month_of(fact)
        if fact.event_type == "crm.account.opened":
            if customer["cohort"] is not None and customer["cohort"] <= month:
                return None
            return {**customer, "cohort": month}
        if month in customer["order_months"]:
            return None
        return {**customer, "order_months": sorted([*customer["order_months"], month])}

    def merged(self, states: list[Doc]) -> Doc:
        cohorts = [s["cohort"] for s in states if s["cohort"] is not None]
        return {"cohort": min(cohorts, default=None),
                "order_months": sorted({m for s in states for m in s["order_months"]})}

    def count(self, rows: ReportRows, state: Doc, sign: int) -> None:
        if state["cohort"] is None:
            return  # orders only, so far: in no cohort until the opening arrives
        cohort = rows.row(state["cohort"], cohort=state["cohort"], customers=0, ordering={})
        cohort["customers"] += sign
        for month in state["order_months"]:
            offset = _offset(state["cohort"], month)
            if offset >= 0:
                cohort["ordering"][str(offset)] = cohort["ordering"].get(str(offset), 0) + sign

    def change(self, rows: ReportRows, before: Doc | None, now: Doc | None) -> None:
        """A new order month of a customer in the same cohort: only that month counts
        (not every month of the customer uncounted and counted again)."""
        if before is None or now is None or before["cohort"] != now["cohort"] or now["cohort"] is None:
            super().change(rows, before, now)
            return
        cohort = rows.row(now["cohort"], cohort=now["cohort"], customers=0, ordering={})
        old, new = set(before["order_months"]), set(now["order_months"])
        for month, sign in [*((m, 1) for m in new - old), *((m, -1) for m in old - new)]:
            offset = _offset(now["cohort"], month)
            if offset >= 0:
                cohort["ordering"][str(offset)] = cohort["ordering"].get(str(offset), 0) + sign

    def finish(self, rows: list[Doc]) -> list[Doc]:
        shown = []
        for row in rows:
            if not row["customers"]:
                continue
            ordering = {k: v for k, v in sorted(row["ordering"].items(), key=lambda kv: int(kv[0]))
                        if v}
            shown.append({**row, "ordering": ordering,
                          "share_ordering": {k: shares(v, row["customers"])
                                             for k, v in ordering.items()}})
        return shown


REPORT = RegistrationCohorts
