"""What a colleague saw: the 360 and the timeline as of a moment (event time) and as known
at a moment (recorded time), with merge groups as they stood then."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.facts import ReportedFact
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def opened(n: int, customer: str, at: datetime) -> ReportedFact:
    return ReportedFact(f"{customer}-open", "crm.account.opened", "tests", customer, at,
                        {"name": f"Customer {n}", "email": None, "phone": None, "address": None,
                         "country": "DE", "segment": None, "language": None,
                         "acquisition_channel": "web"})


def placed(customer: str, order_id: str, at: datetime) -> ReportedFact:
    return ReportedFact(f"{order_id}-placed", "crm.order.placed", "tests", customer, at,
                        {"order_id": order_id, "amount": "10.00", "currency": "EUR",
                         "items": [], "channel": "web"})


def identity(kind: str, survivor: str, duplicate: str, at: datetime) -> ReportedFact:
    return ReportedFact(f"{kind}-{duplicate}-{at.timestamp()}", f"crm.account.{kind}", "tests",
                        survivor, at, {"duplicate_customer_id": duplicate})


def recorded_moment() -> datetime:
    """A moment between two recordings: the store's clock has passed it on both sides."""
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment


def view(desk: Desk, customer: str, **moments: datetime) -> dict[str, Any]:
    response = desk.client.get(f"/customers/{customer}",
                               params={k: v.isoformat() for k, v in moments.items()})
    assert response.status_code == 200, response.text
    return response.json()


def orders_seen(desk: Desk, customer: str, **moments: datetime) -> list[str]:
    """The order ids on the customer's timeline, oldest first."""
    page = desk.page(customer, order="oldest", limit=500,
                     **{k: v.isoformat() for k, v in moments.items()})
    return [e["data"]["order_id"] for e in page["entries"] if e["type"] == "crm.order.placed"]


def test_a_fact_recorded_late_is_not_known_before_it_was_recorded(desk: Desk) -> None:
    desk.record(opened(1, "C-1", NOW - 48 * H), placed("C-1", "O-1", NOW - 24 * H))
    before_late = recorded_moment()
    desk.record(placed("C-1", "O-0", NOW - 30 * H))  # happened earlier, recorded later
    # As known before it arrived: one order, although the late one happened earlier.
    seen = view(desk, "C-1", as_of=before_late, known_at=before_late)
    assert seen["orders"]["count"] == 1 and seen["known_at"] == before_late.isoformat()
    assert orders_seen(desk, "C-1", known_at=before_late) == ["O-1"]
    # By event time alone, as known now, the late order is there in its place.
    assert view(desk, "C-1", as_of=NOW - 20 * H)["orders"]["count"] == 2
    assert orders_seen(desk, "C-1", as_of=NOW - 20 * H) == ["O-0", "O-1"]
    assert orders_seen(desk, "C-1") == ["O-0", "O-1"]
    # Before the customer was known at all there is nothing to show.
    missing = desk.client.get("/customers/C-1",
                              params={"known_at": (before_late - 24 * H).isoformat()})
    assert missing.status_code == 404 and "as known at" in missing.json()["detail"]


def test_a_merge_shows_neither_before_it_happened_nor_before_it_was_recorded(desk: Desk) -> None:
    desk.record(opened(1, "C-A", NOW - 90 * H), placed("C-A", "O-A", NOW - 80 * H),
                opened(2, "C-B", NOW - 70 * H), placed("C-B", "O-B", NOW - 60 * H))
    before_merge = recorded_moment()
    desk.record(identity("merged", "C-A", "C-B", NOW - 50 * H))
    merged = recorded_moment()
    desk.record(identity("unmerged", "C-A", "C-B", NOW - 10 * H))

    # Now: unmerged, each customer its own.
    assert view(desk, "C-A")["merged_ids"] == [] and orders_seen(desk, "C-A") == ["O-A"]
    # Between the merge and the unmerge, by event time: one customer.
    during = view(desk, "C-A", as_of=NOW - 30 * H)
    assert during["merged_ids"] == ["C-B"] and during["orders"]["count"] == 2
    assert orders_seen(desk, "C-A", as_of=NOW - 30 * H) == ["O-A", "O-B"]
    assert view(desk, "C-B", as_of=NOW - 30 * H)["customer_id"] == "C-A"
    # Before the merge happened: two customers, even as known after it was recorded.
    apart = view(desk, "C-A", as_of=NOW - 55 * H, known_at=merged)
    assert apart["merged_ids"] == [] and apart["orders"]["count"] == 1
    assert orders_seen(desk, "C-A", as_of=NOW - 55 * H, known_at=merged) == ["O-A"]
    # What a colleague saw after the merge was recorded, before the unmerge was.
    colleague = view(desk, "C-A", as_of=merged, known_at=merged)
    assert colleague["merged_ids"] == ["C-B"] and colleague["orders"]["count"] == 2
    assert orders_seen(desk, "C-A", as_of=merged, known_at=merged) == ["O-A", "O-B"]
    # Before it was recorded nobody saw it, although it had happened by then.
    unknown = view(desk, "C-A", known_at=before_merge)
    assert unknown["merged_ids"] == [] and unknown["orders"]["count"] == 1
    assert orders_seen(desk, "C-A", known_at=before_merge) == ["O-A"]
    assert view(desk, "C-B", known_at=before_merge)["customer_id"] == "C-B"


def test_a_chain_of_merges_resolves_as_it_stood(desk: Desk) -> None:
    desk.record(*(opened(n, c, NOW - (90 - n) * H) for n, c in enumerate(["C-X", "C-Y", "C-Z"])))
    desk.record(identity("merged", "C-Y", "C-Z", NOW - 40 * H))
    desk.record(identity("merged", "C-X", "C-Y", NOW - 30 * H))
    assert view(desk, "C-Z")["customer_id"] == "C-X"
    assert view(desk, "C-Z")["merged_ids"] == ["C-Y", "C-Z"]
    assert view(desk, "C-Z", as_of=NOW - 35 * H)["customer_id"] == "C-Y"
    assert view(desk, "C-Z", as_of=NOW - 45 * H)["customer_id"] == "C-Z"
    assert desk.page("C-Z", as_of=(NOW - 35 * H).isoformat())["customer_id"] == "C-Y"
