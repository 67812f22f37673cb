"""Anomaly flags on hand-built histories, at the edge of every threshold."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.anomalies import AnomalyPolicy, anomalies
from tests.facts import T, days, fact, order

pytestmark = pytest.mark.unit

MINUTE = timedelta(minutes=1)


def placed(at, order_id: str, amount: str = "10.00", currency: str = "EUR"):
    return order(at, order_id, amount, currency)


def usual(n: int = 5) -> list:
    """Orders of 10, 11, 12, 10, 11 EUR a week apart: median 11, MAD 1."""
    amounts = ["10.00", "11.00", "12.00", "10.00", "11.00"][:n]
    return [placed(T - days(50 - 7 * i), f"O-{i}", a) for i, a in enumerate(amounts)]


def reasons(facts, policy: AnomalyPolicy | None = None) -> list[tuple[str, str]]:
    return [(a.details["reason"], a.details["event_id"])
            for a in anomalies("C-1", facts, policy or AnomalyPolicy())]


def test_an_order_far_above_the_customers_own_median_is_flagged_with_its_figures() -> None:
    at_edge = placed(T, "O-edge", "33.00")  # 3 x the median 11: not above it
    assert reasons([*usual(), at_edge]) == []
    above = placed(T, "O-big", "33.01")
    (alert,) = anomalies("C-1", [*usual(), above])
    assert alert.kind == "anomaly" and alert.raised_at == T
    assert alert.details == {
        "reason": "amount_outlier", "event_id": above.event_id, "amount": "33.01",
        "currency": "EUR", "median": "11.00", "deviation": "1.48", "earlier_orders": 5,
        "summary": "order of 33.01 EUR, 3.0 times this customer's usual 11.00 EUR"}
    # Four earlier orders are too few to know a pattern; another currency is another one.
    assert reasons([*usual(4), above]) == []
    assert reasons([*usual(), placed(T, "O-sek", "330.00", "SEK")]) == []


def test_the_robust_deviation_bound_counts_as_well_as_the_ratio() -> None:
    spread = [placed(T - days(10 - i), f"O-{i}", a)
              for i, a in enumerate(["10.00", "20.00", "30.00", "40.00", "50.00"])]
    # median 30, MAD 10 -> 14.826: 30 + 5 x 14.826 = 104.13 is the bound, above 3 x 30.
    assert reasons([*spread, placed(T, "O-a", "104.13")]) == []
    assert [r for r, _ in reasons([*spread, placed(T, "O-b", "104.14")])] == ["amount_outlier"]


def test_a_burst_is_orders_within_the_window_and_flagged_once() -> None:
    first = [placed(T, "O-1"), placed(T + 5 * MINUTE, "O-2")]
    third = placed(T + 10 * MINUTE, "O-3")  # exactly 10 minutes after the first: within
    fourth = placed(T + 12 * MINUTE, "O-4")
    (alert,) = anomalies("C-1", [*first, third, fourth])
    assert alert.details["reason"] == "order_burst" and alert.details["event_id"] == third.event_id
    assert alert.details["orders"] == 3 and alert.details["summary"] == (
        "3 orders within 10 minutes")
    late = placed(T + 10 * MINUTE + timedelta(seconds=1), "O-5")
    assert reasons([*first, late]) == []


def test_refunds_on_most_orders_are_flagged_when_the_share_is_reached() -> None:
    orders = usual()
    refunds = [fact("crm.order.refunded", T + days(i), order_id=f"O-{i}", amount="5.00",
                    currency="EUR") for i in range(3)]
    assert reasons([*orders, *refunds[:2]]) == []  # 2 of 5 < 0.6
    assert reasons([*orders, *refunds]) == [("refund_heavy", refunds[2].event_id)]  # 3 of 5
    again = fact("crm.order.refunded", T + days(9), order_id="O-4", amount="5.00", currency="EUR")
    assert len(reasons([*orders, *refunds, again])) == 1  # once
    assert reasons([*usual(4), *[replace(r) for r in refunds]]) == []  # 4 orders: too few


def test_an_order_soon_after_the_email_or_phone_changed_is_flagged_once() -> None:
    changed = fact("crm.account.updated", T, changes={"email": "new@example.org", "city": "Köln"})
    within = placed(T + timedelta(hours=2), "O-1")  # the default window: 2 hours
    (alert,) = anomalies("C-1", [changed, within, placed(T + timedelta(hours=2.5), "O-2")])
    assert alert.details["reason"] == "contact_change_then_order"
    assert alert.details["changed"] == ["email"] and alert.details["hours"] == 2
    assert alert.details["summary"] == "email changed, then an order 2.0 hours later"
    assert reasons([changed, placed(T + timedelta(hours=2, seconds=1), "O-3")]) == []
    city_only = fact("crm.account.updated", T, changes={"city": "Bonn"})
    assert reasons([city_only, placed(T + MINUTE, "O-4")]) == []
    assert [r for r, _ in reasons([changed, placed(T + MINUTE, "O-5")],
                                  AnomalyPolicy(takeover_hours=0.01))] == []


def test_the_same_facts_give_the_same_flags_in_any_recording_order() -> None:
    facts = [*usual(), placed(T, "O-big", "90.00"), placed(T + MINUTE, "O-x"),
             placed(T + 2 * MINUTE, "O-y"),
             fact("crm.account.updated", T + days(1), changes={"phone": "+49 30 1"}),
             placed(T + days(1) + MINUTE, "O-z")]
    expected = anomalies("C-1", facts)
    assert {a.details["reason"] for a in expected} == {
        "amount_outlier", "order_burst", "contact_change_then_order"}
    shuffled = facts[:]
    random.Random(3).shuffle(shuffled)
    assert anomalies("C-1", shuffled) == expected
    assert len({a.alert_id for a in expected}) == len(expected)
