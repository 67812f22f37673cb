"""Reading timelines over the API: filters and cursor pages, on both store backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.facts import ReportedFact
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def fact(n: int, hours_ago: float, event_type: str = "crm.contact.logged", channel: str = "phone",
         customer: str = "C-1") -> ReportedFact:
    data = ({"channel": channel, "direction": "outbound"} if event_type == "crm.contact.logged"
            else {"order_id": f"O-{n}", "amount": "10.00", "currency": "EUR", "items": [],
                  "channel": channel})
    return ReportedFact(f"e-{n}", event_type, "tests", customer, NOW - timedelta(hours=hours_ago), data)


def test_filters_by_type_prefix_channel_and_time_range(desk: Desk) -> None:
    desk.record(
        fact(1, 50, channel="phone"),
        fact(2, 40, "crm.order.placed", channel="web"),
        fact(3, 30, channel="email"),
        fact(4, 20, "crm.order.placed", channel="store"),
        fact(5, 10, channel="phone"),
        fact(6, 5, customer="C-2"),
    )
    ids = lambda page: [e["event_id"] for e in page["entries"]]  # noqa: E731
    assert ids(desk.page()) == ["e-5", "e-4", "e-3", "e-2", "e-1"]
    assert ids(desk.page(type="crm.order")) == ["e-4", "e-2"]
    assert ids(desk.page(type="crm.order.placed")) == ["e-4", "e-2"]
    assert ids(desk.page(type="crm.ord")) == []  # a prefix is whole dotted segments
    assert ids(desk.page(channel="phone")) == ["e-5", "e-1"]
    since, until = (NOW - timedelta(hours=40)).isoformat(), (NOW - timedelta(hours=10)).isoformat()
    assert ids(desk.page(since=since, until=until)) == ["e-4", "e-3", "e-2"]
    assert ids(desk.page(type="crm.contact", channel="email")) == ["e-3"]


def test_cursor_pages_stay_stable_while_events_arrive(desk: Desk) -> None:
    desk.record(*(fact(n, hours_ago=100 - n) for n in range(10)))  # e-9 is newest
    first = desk.page(limit=4)
    assert [e["event_id"] for e in first["entries"]] == ["e-9", "e-8", "e-7", "e-6"]
    # New events arrive between page reads: newer than everything, a late one
    # in the middle of the page already read, and one that falls into the next page.
    desk.record(fact(20, 1), fact(21, 100 - 7.5), fact(22, 100 - 4.5))
    second = desk.page(limit=4, cursor=first["next_cursor"])
    assert [e["event_id"] for e in second["entries"]] == ["e-5", "e-22", "e-4", "e-3"]
    third = desk.page(limit=4, cursor=second["next_cursor"])
    assert [e["event_id"] for e in third["entries"]] == ["e-2", "e-1", "e-0"]
    assert third["next_cursor"] is None


def test_ties_in_event_time_keep_store_order(desk: Desk) -> None:
    desk.record(fact(1, 3), fact(2, 3), fact(3, 3))
    assert [e["event_id"] for e in desk.page()["entries"]] == ["e-3", "e-2", "e-1"]
    assert [e["event_id"] for e in desk.page(limit=2, cursor=desk.page(limit=1)["next_cursor"])[
        "entries"]] == ["e-2", "e-1"]


def test_bad_requests_say_what_was_wrong(desk: Desk) -> None:
    bad_cursor = desk.client.get("/customers/C-1/timeline", params={"cursor": "nonsense!"})
    assert bad_cursor.status_code == 404
    assert "cursor" in bad_cursor.json()["detail"]
    naive = desk.client.get("/customers/C-1/timeline", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert "since" in naive.text
    backwards = desk.client.get(
        "/customers/C-1/timeline",
        params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 200 and backwards.json()["entries"] == []  # an empty range
    assert desk.client.get("/customers/C-1/timeline", params={"limit": 0}).status_code == 422
    assert desk.page()["entries"] == []  # an unknown customer has an empty timeline
