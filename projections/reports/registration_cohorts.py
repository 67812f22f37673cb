"""Registration cohorts: of the customers who registered in a month, the share ordering
in each later month (month 0 is the registration month)."""

from __future__ import annotations

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows, month_of, shares


def _offset(cohort: str, month: str) -> int:
    (cy, cm), (y, m) = map(int, cohort.split("-")), map(int, month.split("-"))
    return (y - cy) * 12 + (m - cm)


class RegistrationCohorts(Report):
    name = "registration_cohorts"
    title = "Registration cohorts: share of customers ordering in each later month"
    reads = frozenset({"crm.account.opened", "crm.order.placed"})
    columns = ("cohort", "customers", "ordering", "share_ordering")

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (fact.customer_id,)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        # Orders may be stored before the account opening arrives: remember their
        # months per customer and count them once the cohort is known.
        memory = rows.recall(fact.customer_id) or {"cohort": None, "order_months": []}
        month = month_of(fact)
        if fact.event_type == "crm.account.opened":
            if memory["cohort"] is not None:
                return
            memory["cohort"] = month
            cohort = rows.row(month, cohort=month, customers=0, ordering={})
            cohort["customers"] += 1
            for ordered in memory["order_months"]:
                self._count(cohort, month, ordered)
        elif month not in memory["order_months"]:
            memory["order_months"] = sorted([*memory["order_months"], month])
            if memory["cohort"] is not None:
                cohort = rows.row(memory["cohort"], cohort=memory["cohort"], customers=0, ordering={})
                self._count(cohort, memory["cohort"], month)
        rows.remember(fact.customer_id, memory)

    @staticmethod
    def _count(cohort: Doc, registered: str, ordered: str) -> None:
        offset = _offset(registered, ordered)
        if offset >= 0:
            cohort["ordering"][str(offset)] = cohort["ordering"].get(str(offset), 0) + 1

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["ordering"] = dict(sorted(row["ordering"].items(), key=lambda kv: int(kv[0])))
            row["share_ordering"] = {k: shares(v, row["customers"]) for k, v in row["ordering"].items()}
        return rows


REPORT = RegistrationCohorts
