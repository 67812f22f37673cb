"""Contact channel mix by month: how customers and agents talk, and how that shifts."""

from __future__ import annotations

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows, month_of, shares


class ContactChannelMix(Report):
    name = "contact_channel_mix"
    title = "Contact channel mix by month"
    reads = frozenset({"crm.contact.logged"})
    period = "month"
    columns = ("month", "channel", "inbound", "outbound", "contacts", "share_of_month")

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        month, channel = month_of(fact), fact.data["channel"]
        row = rows.row(f"{month}|{channel}", month=month, channel=channel, inbound=0, outbound=0)
        row[fact.data["direction"]] += 1

    def finish(self, rows: list[Doc]) -> list[Doc]:
        totals: dict[str, int] = {}
        for row in rows:
            row["contacts"] = row["inbound"] + row["outbound"]
            totals[row["month"]] = totals.get(row["month"], 0) + row["contacts"]
        for row in rows:
            row["share_of_month"] = shares(row["contacts"], totals[row["month"]])
        return rows


REPORT = ContactChannelMix
