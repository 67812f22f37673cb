"""Complaints and SLA compliance by category and month opened.

A complaint counts in the month it was opened. Its first response and each
resolution are judged against the deadlines of the SLA policy in force when it
was opened (the same rules as the live SLA engine): in time, or not.
"""

from __future__ import annotations

from datetime import datetime

from domain.complaints import Complaint, record_complaint_fact
from domain.facts import FACT_CLASSES, CustomerFact
from projections.reports.base import Doc, Report, ReportRows, shares

_COMPLAINT_TYPES = frozenset(t for t in FACT_CLASSES if t.startswith("crm.complaint."))


class ComplaintSlaByCategory(Report):
    name = "complaint_sla_by_category"
    title = "Complaints and SLA compliance by category and month"
    reads = _COMPLAINT_TYPES
    columns = ("month", "category", "opened", "responded", "responded_in_time",
               "first_response_compliance", "resolved", "resolved_in_time", "resolution_compliance")

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (f"complaint:{fact.data['complaint_id']}",)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        key = f"complaint:{fact.data['complaint_id']}"
        memory = rows.recall(key) or {"facts": []}
        memory["facts"].append([fact.event_type, fact.occurred_at.isoformat(), fact.data])
        rows.remember(key, memory)
        complaint = self._replay(memory["facts"])
        if complaint is None:  # a follow-up before its opening: counted when it opens
            return
        row = rows.row(f"{month_of_time(complaint.opened_at)}|{complaint.category or 'none'}",
                       month=month_of_time(complaint.opened_at), category=complaint.category or "none",
                       opened=0, responded=0, responded_in_time=0, resolved=0, resolved_in_time=0)
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

    def _replay(self, facts: list) -> Complaint | None:
        complaints: dict[str, Complaint] = {}
        for event_type, at, data in sorted(facts, key=lambda f: datetime.fromisoformat(f[1])):
            record_complaint_fact(complaints, _Fact(event_type, datetime.fromisoformat(at), data),
                                  self.policies.sla)
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
