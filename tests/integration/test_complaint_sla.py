"""The SLA clock on a real store: breaches found with no event at all, alerts acknowledged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.facts import ReportedFact
from history.arrivals import Arrival
from projections.catalog import COMPLAINT_SLA
from projections.complaint_sla import ComplaintFacts, ComplaintSlaProjection
from tests.events import NOW
from tests.integration.conftest import Desk, ServiceUnderTest

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def complaint(n: int, event_type: str, at: datetime, complaint_id: str = "K-1", **data: Any) -> ReportedFact:
    return ReportedFact(f"k-{n}", event_type, "tests", "C-1", at,
                        {"complaint_id": complaint_id, **data})


@pytest.fixture
def sla(desk: Desk) -> tuple[Desk, ComplaintSlaProjection, Clock]:
    clock = Clock(NOW)
    projection = desk.catalog.live(COMPLAINT_SLA)
    assert isinstance(projection, ComplaintSlaProjection)
    projection.clock = clock
    return desk, projection, clock


def alerts(desk: Desk, **params: str) -> list[tuple[str, str]]:
    found = desk.client.get("/alerts", params=params).json()["alerts"]
    return sorted((a["kind"], a["details"]["deadline"]) for a in found)


def test_a_complaint_without_any_event_breaches_when_the_clock_passes_its_deadline(sla) -> None:
    desk, projection, clock = sla
    desk.record(complaint(1, "crm.complaint.opened", NOW - H, priority="high", category="delivery"))
    assert alerts(desk) == []
    assert projection.check_due(NOW + 2 * H) == 0  # at risk at 3.2 h after opening
    assert projection.check_due(NOW + 2.3 * H) == 1
    assert alerts(desk) == [("sla_at_risk", "first_response")]
    projection.check_due(NOW + 3 * H + timedelta(seconds=1))
    assert alerts(desk, kind="sla_breach") == [("sla_breach", "first_response")]
    # The same deadlines judged again raise nothing new.
    projection.check_due(NOW + 3.5 * H)
    assert len(alerts(desk)) == 2
    timeline = desk.page()["entries"]
    assert [e["type"] for e in timeline] == ["crm.sla.breached", "crm.sla.at_risk", "crm.complaint.opened"]
    assert timeline[0]["summary"].startswith("SLA breached: first response of complaint K-1 due")
    view = desk.client.get("/customers/C-1", params={"as_of": (NOW + 4 * H).isoformat()}).json()
    assert view["flags"]["open_sla_breach"] is True and view["complaints"]["sla_breaches"] == 1


def test_answered_late_breaches_answered_in_time_does_not(sla) -> None:
    desk, projection, clock = sla
    clock.now = NOW
    desk.record(
        complaint(1, "crm.complaint.opened", NOW - 10 * H, "K-late", priority="high"),
        complaint(2, "crm.complaint.responded", NOW - 5 * H, "K-late"),
        complaint(3, "crm.complaint.opened", NOW - 10 * H, "K-fine", priority="high"),
        complaint(4, "crm.complaint.responded", NOW - 9 * H, "K-fine"),
        complaint(5, "crm.complaint.resolved", NOW - 8 * H, "K-fine"),
    )
    found = desk.client.get("/alerts").json()["alerts"]
    assert sorted((a["details"]["complaint_id"], a["kind"]) for a in found) == [
        ("K-late", "sla_at_risk"), ("K-late", "sla_breach")]
    projection.check_due(NOW + 100 * H)
    found = desk.client.get("/alerts", params={"kind": "sla_breach"}).json()["alerts"]
    assert sorted((a["details"]["complaint_id"], a["details"]["deadline"]) for a in found) == [
        ("K-late", "first_response"), ("K-late", "resolution")]


def test_alerts_are_acknowledged_once_with_who_and_when(sla) -> None:
    desk, projection, clock = sla
    desk.record(complaint(1, "crm.complaint.opened", NOW - 5 * H, priority="high"))
    alert_id = desk.client.get("/alerts", params={"kind": "sla_breach"}).json()["alerts"][0]["alert_id"]
    first = desk.client.post(f"/alerts/{alert_id}/ack", json={"by": "agent-7"})
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["acknowledged_by"]) == ("acknowledged", "agent-7")
    again = desk.client.post(f"/alerts/{alert_id}/ack", json={"by": "agent-9"}).json()
    assert again["acknowledged_by"] == "agent-7" and again["acknowledged_at"] == first.json()["acknowledged_at"]
    assert [a["alert_id"] for a in desk.client.get("/alerts", params={"status": "acknowledged"}).json()[
        "alerts"]] == [alert_id]
    assert desk.client.post("/alerts/nope/ack", json={"by": "agent-7"}).status_code == 404
    assert desk.client.post(f"/alerts/{alert_id}/ack", json={"by": ""}).status_code == 422
    at_risk = desk.client.get("/alerts", params={"kind": "sla_at_risk"}).json()["alerts"][0]
    by_key = desk.client.post(f"/alerts/{at_risk['alert_id']}/ack").json()
    assert by_key["acknowledged_by"] == "tests"  # the admin key's name


def test_complaint_facts_are_kept_and_only_new_ones_read(service: ServiceUnderTest) -> None:
    history = service.history
    opened = ReportedFact("k-1", "crm.complaint.opened", "tests", "C-1", NOW - timedelta(hours=5),
                          {"complaint_id": "K-1", "priority": "high", "summary": "broken"})
    history.record([Arrival("test:feed", 0, opened),
                    Arrival("test:feed", 1, replace(opened, event_id="k-2", data={
                        "complaint_id": "K-2", "priority": "low", "summary": "late"}))])
    read: list[int] = []
    customers_facts = history.customers_facts

    def counted(*args: Any, **kwargs: Any) -> dict[str, list[Any]]:
        found = customers_facts(*args, **kwargs)
        read.append(sum(map(len, found.values())))
        return found

    history.customers_facts = counted  # type: ignore[method-assign]
    kept = ComplaintFacts(history)
    first = kept.of(["C-1"])["C-1"]
    assert {k: [f.event_id for f in fs] for k, fs in first.items()} == {"K-1": ["k-1"], "K-2": ["k-2"]}
    assert first["K-1"][0].data["summary"] is None  # no personal field is read

    history.record([Arrival("test:feed", 2, ReportedFact(
        "k-3", "crm.complaint.resolved", "tests", "C-1", NOW - timedelta(hours=1),
        {"complaint_id": "K-1"}))])
    again = kept.of(["C-1"])["C-1"]
    assert [f.event_id for f in again["K-1"]] == ["k-1", "k-3"]
    assert read == [2, 1]  # the second read took only what was recorded since


#: High complaints: vip customers answered within 1 h, platinum ones within 2 h, others 4 h.
TARGETED = """
[[policies]]
version = "by-customer"
effective_from = 2020-01-01T00:00:00Z
[policies.segments.vip]
high = { first_response = 1, resolution = 8 }
[policies.tiers.platinum]
high = { first_response = 2, resolution = 12 }
"""


def customer_facts() -> list[ReportedFact]:
    """A vip, a platinum consumer (12 orders of 200 EUR this year) and a plain consumer,
    each with a high complaint opened at NOW and never answered."""
    day = timedelta(days=1)
    facts = [
        ReportedFact("a-vip", "crm.account.opened", "tests", "C-VIP", NOW - 90 * day,
                     {"name": "Vera", "segment": "consumer"}),
        ReportedFact("u-vip", "crm.account.updated", "tests", "C-VIP", NOW - 10 * day,
                     {"changes": {"segment": "VIP"}}),
        ReportedFact("a-plat", "crm.account.opened", "tests", "C-PLAT", NOW - 400 * day,
                     {"name": "Paul", "segment": "consumer"}),
        ReportedFact("a-1", "crm.account.opened", "tests", "C-1", NOW - 90 * day,
                     {"name": "Carl", "segment": "consumer"}),
        *(ReportedFact(f"o-{n}", "crm.order.placed", "tests", "C-PLAT", NOW - (n * 20 + 1) * day,
                       {"order_id": f"O-{n}", "amount": "200.00", "currency": "EUR", "items": []})
          for n in range(12)),
        # After the opening: it changes nothing of the targets already chosen.
        ReportedFact("u-1", "crm.account.updated", "tests", "C-1", NOW + 1 * M,
                     {"changes": {"segment": "vip"}}),
    ]
    for n, (customer, complaint_id) in enumerate(
            [("C-VIP", "K-vip"), ("C-PLAT", "K-plat"), ("C-1", "K-plain")]):
        facts.append(ReportedFact(f"k-{n}", "crm.complaint.opened", "tests", customer, NOW,
                                  {"complaint_id": complaint_id, "priority": "high"}))
    return facts


M = timedelta(minutes=1)


def test_a_vip_and_a_platinum_customer_breach_at_their_tighter_targets_everywhere_alike(
        postgres_store: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from domain.sla_policy import DEFAULT_POLICY_BOOK
    from projections.sla_whatif import sla_what_if
    from service.sla_config import parse_policy_book
    from tests.integration.conftest import desk_on

    policy_file = tmp_path / "sla-policy.toml"
    policy_file.write_text(TARGETED)
    monkeypatch.setenv("CRM_SLA_POLICY_FILE", str(policy_file))
    with desk_on(postgres_store, monkeypatch) as desk:
        projection = desk.catalog.live(COMPLAINT_SLA)
        assert isinstance(projection, ComplaintSlaProjection)
        projection.clock = Clock(NOW)
        desk.record(*customer_facts())

        def breaches() -> list[tuple[str, str]]:
            found = desk.client.get("/alerts", params={"kind": "sla_breach"}).json()["alerts"]
            return sorted((a["details"]["complaint_id"], a["details"]["due"]) for a in found)

        second = timedelta(seconds=1)
        projection.check_due(NOW + H - second)
        assert breaches() == []
        projection.check_due(NOW + H + second)  # the vip's 1 h
        assert breaches() == [("K-vip", (NOW + H).isoformat())]
        projection.check_due(NOW + 2 * H + second)  # the platinum customer's 2 h
        assert breaches() == [("K-plat", (NOW + 2 * H).isoformat()),
                              ("K-vip", (NOW + H).isoformat())]
        projection.check_due(NOW + 4 * H - second)
        assert len(breaches()) == 2
        projection.check_due(NOW + 4 * H + second)  # the default 4 h for everyone else
        assert breaches() == [("K-plain", (NOW + 4 * H).isoformat()),
                              ("K-plat", (NOW + 2 * H).isoformat()),
                              ("K-vip", (NOW + H).isoformat())]

        # The 360 judges the same, as of three hours after the opening.
        as_of = NOW + 3 * H
        counts = {c: desk.client.get(f"/customers/{c}", params={"as_of": as_of.isoformat()}
                                     ).json()["complaints"]["sla_breaches"]
                  for c in ("C-VIP", "C-PLAT", "C-1")}
        assert counts == {"C-VIP": 1, "C-PLAT": 1, "C-1": 0}

        # And so does the what-if: against the default book, exactly these two flip.
        result = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, parse_policy_book(TARGETED),
                             as_of=as_of).as_dict()
        assert sorted((f["complaint_id"], f["deadline"], f["before"], f["after"], f["due_after"])
                      for f in result["flips"]) == [
            ("K-plat", "first_response", "pending", "breached", (NOW + 2 * H).isoformat()),
            ("K-vip", "first_response", "pending", "breached", (NOW + H).isoformat())]
        assert result["totals"]["breaches_after"] == 2
        back = sla_what_if(desk.history, parse_policy_book(TARGETED), DEFAULT_POLICY_BOOK,
                           as_of=NOW + 5 * H).as_dict()
        assert back["totals"]["breaches_before"] == 3  # what the live clock raised by then

        # The SLA report too: answered after 90 minutes, only the vip's was late.
        desk.record(*(ReportedFact(f"r-{n}", "crm.complaint.responded", "tests", customer,
                                   NOW + 90 * M, {"complaint_id": complaint_id})
                      for n, (customer, complaint_id) in enumerate(
                          [("C-VIP", "K-vip"), ("C-PLAT", "K-plat"), ("C-1", "K-plain")])))
        rows = desk.client.get("/reports/complaint_sla_by_category").json()["rows"]
        assert (sum(r["responded"] for r in rows), sum(r["responded_in_time"] for r in rows)) \
            == (3, 2)
