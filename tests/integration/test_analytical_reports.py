"""The analytical reports on hand-built histories, to the exact figure, through a real store:
incomplete records, purchase affinity (and the recommendations it gives), sales cycle
and agent performance, each at the edges of its thresholds and with late facts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from generators.loadgen import as_fact
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
START = NOW - 200 * DAY
_ids = iter(range(1_000_000))


def event(kind: str, customer: str, days: float, **data: Any) -> Any:
    return as_fact(cloud_event(kind, customer, at=START + days * DAY, data=data,
                               event_id=f"e-{next(_ids)}"))


def bought(customer: str, days: float, *skus: str, order_id: str | None = None) -> Any:
    return event("crm.order.placed", customer, days, order_id=order_id or f"O-{next(_ids)}",
                 amount="10.00", currency="EUR",
                 items=[{"sku": s, "name": s, "quantity": 1, "unit_price": "10.00"} for s in skus])


def rows(desk: Desk, report: str) -> list[dict[str, Any]]:
    response = desk.client.get(f"/reports/{report}")
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def test_incomplete_records_by_field_and_channel(desk: Desk) -> None:
    desk.record(
        event("crm.account.opened", "C-1", 0, name="Ann", email="ann@example.com",
              phone="+49 30 1234567", country="DE", acquisition_channel="web"),
        event("crm.account.consent_changed", "C-1", 1, channel="email", granted=False),
        event("crm.account.owner_assigned", "C-1", 1, owner_id="agent-1"),
        event("crm.account.opened", "C-2", 0, name="Bo", email="bo@example.com",
              acquisition_channel="web"),
        event("crm.account.opened", "C-3", 0, name="Cy", phone="+49 30 7654321", country="DE",
              acquisition_channel="store"),
        event("crm.account.consent_changed", "C-3", 1, channel="sms", granted=True),
    )
    by_channel = {r["channel"]: r for r in rows(desk, "incomplete_records")}
    assert by_channel["web"] == {
        "channel": "web", "customers": 2, "complete": 1, "complete_share": 0.5,
        "missing_email": 0, "missing_phone": 1, "missing_country": 1, "missing_consents": 1,
        "missing_owner": 1}
    assert by_channel["store"]["missing_email"] == 1 and by_channel["store"]["missing_owner"] == 1

    # Clearing a field makes a complete record incomplete; an erasure takes e-mail and
    # phone; a new customer whose opening has not arrived yet counts as unknown.
    desk.record(event("crm.account.updated", "C-1", 2, changes={"phone": None}),
                event("crm.account.erasure_requested", "C-3", 3),
                event("crm.account.owner_assigned", "C-4", 3, owner_id="agent-2"))
    by_channel = {r["channel"]: r for r in rows(desk, "incomplete_records")}
    assert (by_channel["web"]["complete"], by_channel["web"]["missing_phone"]) == (0, 2)
    assert (by_channel["store"]["missing_email"], by_channel["store"]["missing_phone"]) == (1, 1)
    assert by_channel["unknown"]["customers"] == 1
    # ... and moves to its channel once it does: the 360 agrees field by field.
    desk.record(event("crm.account.opened", "C-4", 0, name="Di", acquisition_channel="store"))
    by_channel = {r["channel"]: r for r in rows(desk, "incomplete_records")}
    assert "unknown" not in by_channel and by_channel["store"]["customers"] == 2
    assert desk.client.get("/customers/C-4").json()["completeness"] == {
        "share": 0.2, "missing": ["email", "phone", "country", "consents"]}


def test_purchase_affinity_rules_and_recommendations(desk: Desk) -> None:
    # Six customers buy A, then B 20 days later; two of them buy C with A in one order.
    # Four more buy only D. One buys A alone: B is the product to recommend.
    history = []
    for n in range(6):
        skus = ("A", "C") if n < 2 else ("A",)
        history += [bought(f"F-{n}", 0, *skus), bought(f"F-{n}", 20, "B")]
    history += [bought(f"D-{n}", 5, "D") for n in range(4)]
    history.append(bought("T-1", 30, "A"))
    desk.record(*history)
    rules = {(r["kind"], r["antecedent"], r["consequent"]): r for r in rows(desk, "purchase_affinity")}
    # 11 customers, 17 orders; A: 7 orders, 7 customers; B: 6 orders, 6 customers.
    a_then_b = rules[("follows", "A", "B")]
    assert (a_then_b["count"], a_then_b["support"], a_then_b["confidence"]) == (6, 0.5455, 0.8571)
    assert a_then_b["lift"] == round(0.8571 / 0.5455, 3)  # B follows A 1.6 times as often
    assert a_then_b["mean_days"] == 20.0
    a_with_c = rules[("together", "A", "C")]
    assert (a_with_c["count"], a_with_c["support"], a_with_c["confidence"]) == (2, 0.1176, 0.2857)
    assert rules[("together", "C", "A")]["confidence"] == 1.0
    assert rules[("product", "B", None)]["customers"] == 6

    response = desk.client.get("/customers/T-1/recommendations")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["bought"] == ["A"]
    # C follows A in only 2 orders (< 5: an anecdote), so B alone is recommended.
    assert answer["recommendations"] == [{
        "sku": "B", "confidence": 0.8571, "lift": a_then_b["lift"], "because_of": "A",
        "kind": "follows",
        "reason": "bought by 86% of customers who bought A, usually 20 days later"}]

    # A late, earlier purchase of B by F-0 (before its A) turns its A->B into B->A.
    desk.record(bought("F-0", -10, "B"))
    rules = {(r["kind"], r["antecedent"], r["consequent"]): r for r in rows(desk, "purchase_affinity")}
    assert rules[("follows", "A", "B")]["count"] == 5
    assert rules[("follows", "B", "A")]["count"] == 1
    assert rules[("follows", "B", "A")]["mean_days"] == 10.0


def test_sales_cycle_from_first_contact_or_opening(desk: Desk) -> None:
    opened = START.replace(day=10)  # the month's middle: late facts stay in the month
    offset = (opened - START) / DAY

    def at(days: float) -> float:
        return offset + days

    desk.record(
        event("crm.account.opened", "S-1", at(0), name="S", acquisition_channel="search"),
        bought("S-1", at(7)),  # 7 days: within 7, 30 and 90
        event("crm.account.opened", "S-2", at(0), name="S", acquisition_channel="search"),
        bought("S-2", at(7.5)),  # just past 7 days
        event("crm.account.opened", "S-3", at(0), name="S", acquisition_channel="search"),
    )
    (row,) = rows(desk, "sales_cycle")
    assert row == {"month": opened.strftime("%Y-%m"), "channel": "search", "customers": 3,
                   "converted": 2, "conversion": 0.6667, "mean_days_to_first_order": 7.2,
                   "days": 14.5, "within_7_days": 1, "within_30_days": 2, "within_90_days": 2}
    # A contact before S-1's opening starts its cycle earlier; an older order shortens it.
    desk.record(event("crm.contact.logged", "S-1", at(-3), channel="phone", direction="inbound"),
                bought("S-2", at(1)))
    (row,) = rows(desk, "sales_cycle")
    assert (row["days"], row["within_7_days"]) == (11.0, 1)  # S-1: 10 days, S-2: 1 day


def test_agent_performance_outcomes_first_contact_resolution_and_satisfaction(desk: Desk) -> None:
    def contact(customer: str, days: float, agent: str | None, outcome: str,
                direction: str = "inbound", event_id: str | None = None) -> Any:
        return as_fact(cloud_event("crm.contact.logged", customer, at=START + days * DAY,
                                   event_id=event_id or f"e-{next(_ids)}",
                                   data={"channel": "phone", "direction": direction,
                                         "agent_id": agent, "outcome": outcome}))

    desk.record(
        contact("P-1", 0, "ann", "follow_up", event_id="call-1"),
        contact("P-1", 7, "ann", "resolved"),  # exactly 7 days later: a repeat
        contact("P-1", 14.01, "bob", "resolved"),  # just past 7 days: a first contact
        contact("P-2", 0, "bob", "sale", direction="outbound"),
        contact("P-2", 1, None, "resolved"),  # self-service
        event("crm.survey.answered", "P-1", 1, survey_id="s-1", nps=10, contact_event_id="call-1"),
        event("crm.survey.answered", "P-2", 2, survey_id="s-2", nps=5, csat=2),  # names nothing
        # A survey of a contact not stored yet waits for it.
        event("crm.survey.answered", "P-3", 3, survey_id="s-3", nps=9, csat=5,
              contact_event_id="call-9"),
        event("crm.complaint.opened", "P-4", 0, complaint_id="K-1", priority="high",
              channel="email"),
        event("crm.complaint.resolved", "P-4", 1, complaint_id="K-1", agent_id="cy"),
        event("crm.survey.answered", "P-4", 2, survey_id="s-4", csat=4, complaint_id="K-1"),
    )
    by_key = {(r["agent_id"], r["channel"]): r for r in rows(desk, "agent_performance")}
    ann = by_key[("ann", "phone")]
    assert {k: ann[k] for k in ("contacts", "inbound", "resolved", "follow_up", "first_contacts",
                                "first_contact_resolved", "first_contact_resolution", "surveys",
                                "nps")} == {
        "contacts": 2, "inbound": 2, "resolved": 1, "follow_up": 1, "first_contacts": 1,
        "first_contact_resolved": 0, "first_contact_resolution": 0.0, "surveys": 1, "nps": 100.0}
    bob = by_key[("bob", "phone")]
    assert (bob["contacts"], bob["sale"], bob["first_contacts"], bob["first_contact_resolution"]) \
        == (2, 1, 1, 1.0)
    assert by_key[("self-service", "phone")]["resolved"] == 1
    assert by_key[("unattributed", "none")]["nps"] == -100.0
    assert by_key[("cy", "email")]["csat_average"] == 4.0
    assert ("dee", "phone") not in by_key

    desk.record(contact("P-3", 2, "dee", "resolved", event_id="call-9"))
    dee = {(r["agent_id"], r["channel"]): r for r in rows(desk, "agent_performance")}[("dee", "phone")]
    assert (dee["surveys"], dee["nps"], dee["csat_average"]) == (1, 100.0, 5.0)
