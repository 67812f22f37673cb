"""Incomplete records by acquisition channel: how many customer records lack each expected
field (e-mail, phone, country, consents, owner), so data-quality work goes where the
gaps are.

The fields are those of the 360's completeness (``domain.customer360.EXPECTED_FIELDS``)
with the same rules: a field cleared by ``crm.account.updated`` is missing again, and
an erased customer's e-mail and phone are missing (they are gone). The report sees
personal fields to tell present from missing, and keeps only that they were there.
"""

from __future__ import annotations

from domain.customer360 import EXPECTED_FIELDS
from domain.facts import CustomerFact
from domain.personal_data import ERASURE_REQUESTED
from projections.reports.base import Doc, Report, ReportRows, shares

UNKNOWN = "unknown"
_PROFILE_FIELDS = ("email", "phone", "country")


class IncompleteRecords(Report):
    name = "incomplete_records"
    title = "Incomplete records by field and acquisition channel"
    reads = frozenset({"crm.account.opened", "crm.account.updated", "crm.account.consent_changed",
                       "crm.account.owner_assigned", ERASURE_REQUESTED})
    reads_personal_data = True
    columns = ("channel", "customers", "complete", "complete_share",
               *(f"missing_{field}" for field in EXPECTED_FIELDS))

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (fact.customer_id,)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        known = rows.recall(fact.customer_id)
        record = dict(known or {"channel": UNKNOWN, "has": []})
        has = set(record["has"])
        data, kind = fact.data, fact.event_type
        if kind == "crm.account.opened":
            if known is not None and known.get("opened"):
                return
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
        if known is not None:
            self._count(rows, known, -1)
        self._count(rows, record, +1)
        rows.remember(fact.customer_id, record)

    @staticmethod
    def _count(rows: ReportRows, record: Doc, sign: int) -> None:
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
