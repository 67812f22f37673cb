"""Complaints and SLA compliance by month opened, category and priority.

A complaint counts in the month it was opened. Its first response and each
resolution are judged against the deadlines of the SLA policy in force when it
was opened (the same rules as the live SLA engine): in time, or not. The compliance
rates are of the complaints responded to (resolved); one never answered counts in
``opened`` and in no rate (the live SLA alerts tell of those). When the policy book
targets segments or tiers, each customer's standing facts are remembered too (compact:
``domain/sla_standing.py``), so a complaint gets the targets the live engine gives it.
"""

from __future__ import annotations

from datetime import datetime

from domain.complaints import Complaint, record_complaint_fact
from domain.customer360 import Policies
from domain.facts import FACT_CLASSES, CustomerFact
from domain.sla_standing import StandingFold, compact, from_compact, standing_types
from projections.reports.base import Doc, Report, ReportRows, shares

_COMPLAINT_TYPES = frozenset(t for t in FACT_CLASSES if t.startswith("crm.complaint."))


class ComplaintSlaByCategory(Report):
    name = "complaint_sla_by_category"
    title = "Complaints and SLA compliance by month, category and priority"
    reads = _COMPLAINT_TYPES
    period = "month"
    columns = ("month", "category", "priority", "opened", "responded", "responded_in_time",
               "first_response_compliance", "resolved", "resolved_in_time", "resolution_compliance")

    def __init__(self, policies: Policies) -> None:
        super().__init__(policies)
        self.targeting = policies.sla.targeting
        self.reads = _COMPLAINT_TYPES | standing_types(self.targeting)  # type: ignore[misc]

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        standing = (f"standing:{fact.customer_id}",) if self.targeting else ()
        if not fact.event_type.startswith("crm.complaint."):
            return standing
        return (f"complaint:{fact.data['complaint_id']}", *standing)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        if not fact.event_type.startswith("crm.complaint."):
            kept = rows.recall(f"standing:{fact.customer_id}") or {"facts": []}
            kept["facts"].append(compact(fact))
            rows.remember(f"standing:{fact.customer_id}", kept)
            return
        key = f"complaint:{fact.data['complaint_id']}"
        memory = rows.recall(key) or {"facts": []}
        memory["facts"].append([fact.event_type, fact.occurred_at.isoformat(), fact.data])
        rows.remember(key, memory)
        complaint = self._replay(memory["facts"], self._standing(rows, fact.customer_id))
        if complaint is None:  # a follow-up before its opening: counted when it opens
            return
        month, category = month_of_time(complaint.opened_at), complaint.category or "none"
        # Counted under the priority it was opened with: an escalation moves no complaint.
        priority = next(data["priority"] for kind, _, data in memory["facts"]
                        if kind == "crm.complaint.opened")
        row = rows.row(f"{month}|{category}|{priority}", month=month, category=category,
                       priority=priority, opened=0, responded=0, responded_in_time=0, resolved=0, resolved_in_time=0)
        if fact.event_type == "crm.complaint.opened":
            row["opened"] += 1
        first, resolution = (
            complaint.deadlines[0],
            [d for d in complaint.deadlines if d.name == "resolution"][-1],
        )
        if fact.event_type in ("crm.complaint.responded", "crm.complaint.resolved") and (
            first.met_at == fact.occurred_at and not memory.get("responded")
        ):
            memory["responded"] = True
            row["responded"] += 1
            row["responded_in_time"] += int(first.met_at <= first.due)
        if fact.event_type == "crm.complaint.resolved" and resolution.met_at == fact.occurred_at:
            row["resolved"] += 1
            row["resolved_in_time"] += int(resolution.met_at <= resolution.due)

    def _standing(self, rows: ReportRows, customer_id: str) -> StandingFold | None:
        if not self.targeting:
            return None
        standing = StandingFold(self.targeting)
        for kept in (rows.recall(f"standing:{customer_id}") or {"facts": []})["facts"]:
            standing.note(from_compact(kept))
        return standing

    def _replay(self, facts: list, standing: StandingFold | None = None) -> Complaint | None:
        complaints: dict[str, Complaint] = {}
        for event_type, at, data in sorted(facts, key=lambda f: datetime.fromisoformat(f[1])):
            record_complaint_fact(complaints, _Fact(event_type, datetime.fromisoformat(at), data),
                                  self.policies.sla, standing)
        return next(iter(complaints.values()), None)

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["first_response_compliance"] = shares(row["responded_in_time"], row["responded"])
            row["resolution_compliance"] = shares(row["resolved_in_time"], row["resolved"])
        return rows


class _Fact:
    """The parts of a stored fact the complaint rules read, rebuilt from report memory."""

    def __init__(self, event_type: str, occurred_at: datetime, data: dict) -> None:
        self.event_type, self.occurred_at, self.data = event_type, occurred_at, data


def month_of_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


REPORT = ComplaintSlaByCategory
