"""Reading customers over the API: the 360 view, loyalty as of a moment, search, alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.facts import ReportedFact
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def fact(n: int, event_type: str, hours_ago: float, customer: str = "C-1", **data: Any) -> ReportedFact:
    return ReportedFact(f"{customer}-{n}", event_type, "tests", customer,
                        NOW - timedelta(hours=hours_ago), data)


def outbound(n: int, hours_ago: float, customer: str = "C-1", channel: str = "phone") -> ReportedFact:
    return fact(n, "crm.contact.logged", hours_ago, customer, channel=channel, direction="outbound")


@pytest.fixture
def customers(desk: Desk) -> Desk:
    desk.record(
        fact(1, "crm.account.opened", 900, name="Greta Novak", email="Greta.Novak@example.com",
             phone="+49 30 1234567", country="DE"),
        fact(2, "crm.order.placed", 240, order_id="O-1", amount="1000.00", currency="EUR", items=[]),
        fact(1, "crm.account.opened", 800, customer="C-2", name="Ben Okafor", email="ben@example.org",
             phone="+44 20 7946 0000"),
        fact(3, "crm.account.consent_changed", 100, channel="sms", granted=False),
        *(outbound(n, 90 - n) for n in range(4, 8)),  # four outbound contacts in a day
        outbound(8, 10, channel="sms"),
    )
    return desk


def test_the_360_view_and_404_for_an_unknown_customer(customers: Desk) -> None:
    view = customers.client.get("/customers/C-1").json()
    assert view["profile"]["name"] == "Greta Novak"
    assert view["orders"]["lifetime_value"] == {"EUR": "1000.00"}
    assert view["flags"]["outbound_without_consent"] is True
    missing = customers.client.get("/customers/C-404")
    assert missing.status_code == 404 and "C-404" in missing.json()["detail"]


def test_loyalty_as_of_two_moments(customers: Desk) -> None:
    now = customers.client.get("/customers/C-1/loyalty", params={"as_of": NOW.isoformat()}).json()
    # R: order 10 days old -> 1; F 1/12; M 1000/2000; E 0: base 35 + 2.08 + 15 = 52.08
    assert (now["score"], now["tier"], now["recency"], now["monetary"]) == (52, "silver", 1.0, 0.5)
    later = customers.client.get(
        "/customers/C-1/loyalty", params={"as_of": (NOW + timedelta(days=356)).isoformat()}).json()  # order 366 days old
    assert (later["score"], later["tier"], later["recency"]) == (0, "bronze", 0.0)
    naive = customers.client.get("/customers/C-1/loyalty", params={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "as_of" in naive.text


@pytest.mark.parametrize(
    ("query", "found"),
    [("C-2", ["C-2"]), ("c-", ["C-1", "C-2"]), ("novak", ["C-1"]), ("EXAMPLE", ["C-1", "C-2"]), ("7946", ["C-2"]),
     ("+49 30 123", ["C-1"]), ("nobody", [])],
)
def test_search_by_id_name_email_or_phone(customers: Desk, query: str, found: list[str]) -> None:
    result = customers.client.get("/customers", params={"q": query}).json()
    assert [c["customer_id"] for c in result["customers"]] == found


def test_search_pages(customers: Desk) -> None:
    first = customers.client.get("/customers", params={"q": "example", "limit": 1}).json()
    second = customers.client.get("/customers", params={"q": "example", "limit": 1,
                                                        "cursor": first["next_cursor"]}).json()
    assert [c["customer_id"] for c in first["customers"] + second["customers"]] == ["C-1", "C-2"]
    assert second["next_cursor"] is None


def test_alerts_filtered_by_kind_and_status(customers: Desk) -> None:
    alerts = customers.client.get("/alerts").json()["alerts"]
    assert sorted(a["kind"] for a in alerts) == ["contact_fatigue", "outbound_without_consent"]
    fatigue = customers.client.get("/alerts", params={"kind": "contact_fatigue"}).json()["alerts"]
    assert [(a["customer_id"], a["status"], a["details"]["outbound_in_window"]) for a in fatigue] == [
        ("C-1", "open", 4)]
    assert customers.client.get("/alerts", params={"status": "acknowledged"}).json()["alerts"] == []
    assert customers.client.get("/alerts", params={"status": "closed"}).status_code == 422
