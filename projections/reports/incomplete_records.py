"""Incomplete records by acquisition channel: how many customer records lack each expected
field (e-mail, phone, country, consents, owner), so data-quality work goes where the
gaps are.

The fields are those of the 360's completeness (``domain.customer360.EXPECTED_FIELDS``)
with the same rules: a field cleared by ``crm.account.updated`` is missing again, and
an erased customer's e-mail and phone are missing (they are gone). The report sees
personal fields to tell present from missing, and keeps only that they were there.
A merged customer counts once, with the fields any of its ids has (``per_customer``).
"""

from __future__ import annotations

from domain.customer360 import EXPECTED_FIELDS
from domain.facts import CustomerFact
from domain.personal_data import ERASURE_REQUESTED
from projections.reports.base import Doc, ReportRows, shares
from projections.reports.per_customer import CustomerReport

UNKNOWN = "unknown"
_PROFILE_FIELDS = ("email", "phone", "country")


class IncompleteRecords(CustomerReport):
    name = "incomplete_records"
    title = "Incomplete records by field and acquisition channel"
    customer_reads = frozenset({"crm.account.opened", "crm.account.updated",
                                "crm.account.consent_changed", "crm.account.owner_assigned",
                                ERASURE_REQUESTED})
    reads_personal_data = True
    columns = ("channel", "customers", "complete", "complete_share",
               *(f"missing_{field}" for field in EXPECTED_FIELDS))

    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        record = dict(state or {"channel": UNKNOWN, "has": []})
        has = set(record["has"])
        data, kind = fact.data, fact.event_type
        if kind == "crm.account.opened":
            if record.get("opened"):
                return None
            record["opened"] = True
            record["channel"] = data.get("acquisition_channel") or UNKNOWN
            has |= {f for f in _PROFILE_FIELDS if data.get(f)}
        elif kind == "crm.account.updated":
            for name, value in data["changes"].items():
                if name in _PROFILE_FIELDS:
                    has = has | {name} if value else has - {name}
        elif kind == "crm.account.consent_changed":
            has.add("consents")
        elif kind == "crm.account.owner_assigned":
            has.add("owner")
        else:  # erased: what made the record reachable is gone
            has -= {"email", "phone"}
        record["has"] = sorted(has)
        return record

    def merged(self, states: list[Doc]) -> Doc:
        """One record: a field present in any of its ids, the channel of the first opened."""
        opened = [s for s in states if s.get("opened")]
        return {"channel": (opened or states)[0]["channel"], "opened": bool(opened),
                "has": sorted({f for s in states for f in s["has"]})}

    def count(self, rows: ReportRows, record: Doc, sign: int) -> None:
        row = rows.row(record["channel"], channel=record["channel"], customers=0, complete=0,
                       **{f"missing_{field}": 0 for field in EXPECTED_FIELDS})
        missing = [field for field in EXPECTED_FIELDS if field not in record["has"]]
        row["customers"] += sign
        row["complete"] += sign * (not missing)
        for field in missing:
            row[f"missing_{field}"] += sign

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["complete_share"] = shares(row["complete"], row["customers"])
        return [row for row in rows if row["customers"]]


REPORT = IncompleteRecords
