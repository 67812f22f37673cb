"""The customer 360 of hand-built customers, with exact expected values."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.customer360 import Policies
from domain.customer360 import fold_customer as fold
from domain.loyalty import LoyaltyPolicy
from tests.facts import T, contact, days, fact, order

pytestmark = pytest.mark.unit

POLICIES = Policies(loyalty=LoyaltyPolicy(exchange_rates={"EUR": Decimal(1), "USD": Decimal("0.92")}))


def fold_customer(customer_id, facts, as_of):
    return fold(customer_id, facts, as_of, POLICIES)


def greta() -> list:
    """A customer with refunds, a cancellation, two currencies, an old order and a complaint."""
    return [
        fact("crm.account.opened", T - days(500), name="Greta Novak", email="greta@example.com",
             phone="+49 30 123", country="DE", segment="consumer", language="de",
             acquisition_channel="referral"),
        fact("crm.account.consent_changed", T - days(500), channel="email", granted=True),
        fact("crm.account.owner_assigned", T - days(499), owner_id="A-7", owner_name="Sven"),
        order(T - days(400), "O-1", "1000.00"),  # older than a year
        order(T - days(200), "O-2", "400.00"),
        fact("crm.order.cancelled", T - days(199), order_id="O-2"),
        order(T - days(100), "O-3", "300.00", "USD"),
        order(T - days(10), "O-4", "500.00"),
        fact("crm.order.refunded", T - days(5), order_id="O-4", amount="100.00"),
        contact(T - days(100)),  # inbound, but outside E's 90 days
        contact(T - days(60), channel="email"),
        contact(T - days(5), channel="chat"),
        contact(T - days(3), direction="outbound"),
        fact("crm.survey.answered", T - days(20), survey_id="S-1", nps=9, csat=4),
        fact("crm.survey.answered", T - days(15), survey_id="S-2", nps=6),
        fact("crm.account.updated", T - days(30), changes={"phone": "+49 40 999", "address": None}),
        fact("crm.complaint.opened", T - days(2), complaint_id="K-1", priority="normal",
             category="delivery"),
    ]


def test_the_360_view_of_a_customer_with_a_history() -> None:
    view = fold_customer("C-1", greta(), T)
    assert view.profile == {"name": "Greta Novak", "email": "greta@example.com",
                            "phone": "+49 40 999", "country": "DE", "segment": "consumer",
                            "language": "de"}
    assert (view.status, view.acquisition_channel, view.consents) == (
        "active", "referral", {"email": True})
    assert view.owner == {"id": "A-7", "name": "Sven", "since": T - days(499)}
    assert view.orders == {
        "count": 3,
        "order_days": 3,
        "lifetime_value": {"EUR": "1400.00", "USD": "300.00"},
        "average_order_value": {"EUR": "700.00", "USD": "300.00"},
        "first_order_time": T - days(400),
        "last_order_time": T - days(10),
        "mean_days_between_orders": 195.0,
        "predicted_next_order_time": T - days(10) + days(195),
    }
    assert view.contacts == {"total": 4, "by_channel": {"chat": 1, "email": 1, "phone": 2},
                             "last_time": T - days(3), "last_channel": "phone",
                             "outbound_last_7_days": 1}
    assert view.satisfaction == {"nps_last": 6, "nps_average": 7.5, "csat_last": 4,
                                 "csat_average": 4.0}
    # The complaint opened 2 days ago got no first response within 24 h: one breach.
    assert view.complaints["open"] == 1 and view.complaints["total"] == 1
    assert view.complaints["sla_breaches"] == 1
    assert view.flags == {"contact_fatigue": False, "open_sla_breach": True,
                          "outbound_without_consent": False}
    assert (view.event_count, view.last_event_time) == (17, T - days(2))


def test_the_loyalty_score_of_that_customer_with_every_component() -> None:
    loyalty = fold_customer("C-1", greta(), T).loyalty
    # R: last order 10 days ago -> 1. F: O-3, O-4 in the year (O-2 cancelled) -> 2/12.
    # M: 400 EUR (500 - 100 refund) + 300 USD * 0.92 = 676 -> 0.338 of 2000.
    # E: inbound 60 and 5 days ago + 2 surveys -> 4 -> 0.8.
    # base = 35 + 4.1667 + 10.14 + 8 = 57.3067; penalty = 10 open + 5 breach = 15 -> 42.
    assert (loyalty.recency, loyalty.frequency, loyalty.monetary, loyalty.engagement) == (
        1.0, 0.166667, 0.338, 0.8)
    assert loyalty.base == pytest.approx(57.3067, abs=1e-4)
    assert (loyalty.penalty, loyalty.score, loyalty.tier) == (15, 42, "silver")


def test_read_at_two_moments() -> None:
    earlier = fold_customer("C-1", greta(), T - days(50))
    assert earlier.orders["count"] == 2  # O-1 and O-3 (O-2 cancelled); O-4 not yet placed
    assert earlier.complaints["total"] == 0
    # 50 days earlier: R = 315/335 for O-3 (50 days old); F = 2/12 (O-1 was still inside
    # the year); M = (1000 + 276) / 2000; E = 2 inbound contacts / 5.
    # base = 32.910 + 4.167 + 19.14 + 4 = 60.217
    assert earlier.loyalty.recency == pytest.approx((365 - 50) / 335, abs=1e-6)
    assert (earlier.loyalty.frequency, earlier.loyalty.monetary) == (0.166667, 0.638)
    assert (earlier.loyalty.score, earlier.loyalty.tier) == (60, "gold")
    later = fold_customer("C-1", greta(), T + days(400))
    assert later.loyalty.score == 0  # no order in the last year; the complaint breached twice
    assert later.complaints["sla_breaches"] == 2


def test_a_customer_without_orders() -> None:
    view = fold_customer("C-2", [fact("crm.account.opened", T - days(3), name="New")], T)
    assert view.orders["count"] == 0 and view.orders["lifetime_value"] == {}
    assert view.orders["predicted_next_order_time"] is None
    assert (view.loyalty.score, view.loyalty.tier) == (0, "bronze")


def test_complaints_answered_in_time_do_not_breach_and_late_ones_do() -> None:
    in_time = [fact("crm.complaint.opened", T - days(3), complaint_id="K", priority="high"),
               fact("crm.complaint.responded", T - days(3) + timedelta(hours=3), complaint_id="K"),
               fact("crm.complaint.resolved", T - days(2), complaint_id="K")]
    assert fold_customer("C-1", in_time, T).complaints["sla_breaches"] == 0
    late = [fact("crm.complaint.opened", T - days(3), complaint_id="K", priority="high"),
            fact("crm.complaint.responded", T - days(3) + timedelta(hours=5), complaint_id="K"),
            fact("crm.complaint.resolved", T - days(1), complaint_id="K")]
    view = fold_customer("C-1", late, T)
    assert view.complaints["sla_breaches"] == 2 and view.complaints["open"] == 0
    assert view.flags["open_sla_breach"] is False


def outbound(at, channel="phone"):
    return contact(at, direction="outbound", channel=channel)


def test_contact_fatigue_at_n_and_n_plus_one_outbound_contacts() -> None:
    three = [outbound(T - days(6)), outbound(T - days(4)), outbound(T - days(1))]
    view = fold_customer("C-1", three, T)
    assert view.flags["contact_fatigue"] is False and view.alerts == []
    four = [*three, outbound(T)]
    view = fold_customer("C-1", four, T)
    assert view.flags["contact_fatigue"] is True
    assert [(a.kind, a.alert_id) for a in view.alerts] == [
        ("contact_fatigue", f"contact_fatigue:{four[-1].event_id}")]
    five = [*four, outbound(T)]
    assert len(fold_customer("C-1", five, T).alerts) == 1  # one episode, one alert


def test_contact_fatigue_across_the_window_edge() -> None:
    # The window is the 7 days before a contact, its start excluded.
    edge = [outbound(T - days(7)), outbound(T - days(5)), outbound(T - days(3)), outbound(T)]
    view = fold_customer("C-1", edge, T)
    assert view.alerts == [] and view.flags["contact_fatigue"] is False
    inside = [outbound(T - days(7)), outbound(T - days(5)), outbound(T - days(3)),
              outbound(T - timedelta(seconds=1))]
    assert [a.kind for a in fold_customer("C-1", inside, T).alerts] == ["contact_fatigue"]
    # Read a week later the flag is gone; the alert stays in history.
    later = fold_customer("C-1", inside, T + days(7))
    assert later.flags["contact_fatigue"] is False and len(later.alerts) == 1


def test_outbound_contact_after_consent_is_withdrawn_raises_a_compliance_alert() -> None:
    facts = [fact("crm.account.consent_changed", T - days(10), channel="email", granted=True),
             outbound(T - days(5), "email"),
             fact("crm.account.consent_changed", T - days(2), channel="email", granted=False),
             outbound(T - days(1), "phone"),  # no consent recorded for phone: allowed
             contact(T - days(1), channel="email"),  # inbound: the customer wrote to us
             outbound(T, "email")]
    view = fold_customer("C-1", facts, T)
    assert [(a.kind, a.details) for a in view.alerts] == [
        ("outbound_without_consent", {"channel": "email", "consent": "email"})]
    assert view.flags["outbound_without_consent"] is True


def test_late_events_land_in_their_place() -> None:
    facts = greta()
    shuffled = facts[::-1]
    assert fold_customer("C-1", shuffled, T) == fold_customer("C-1", facts, T)
