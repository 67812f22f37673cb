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


# --- products and past issues, social identities, profile history (issue 18) --------------

def item(sku: str, quantity: int, unit_price: str, name: str | None = None) -> dict:
    return {"sku": sku, "name": name or f"Product {sku}", "quantity": quantity,
            "unit_price": unit_price}


def shopper() -> list:
    """Three orders (one cancelled, one half refunded) and complaints by SKU and by order."""
    return [
        fact("crm.order.placed", T - days(30), order_id="O-1", amount="110.00", currency="EUR",
             items=[item("G-1", 1, "100.00", "Grinder"), item("B-1", 2, "5.00", "Beans")]),
        fact("crm.order.placed", T - days(20), order_id="O-2", amount="10.00", currency="EUR",
             items=[item("B-1", 2, "5.00", "Beans 1kg")]),
        fact("crm.order.cancelled", T - days(19), order_id="O-2"),
        fact("crm.order.placed", T - days(10), order_id="O-3", amount="20.00", currency="USD",
             items=[item("B-1", 4, "5.00", "Beans 1kg")]),
        # half of O-1's 110.00 back: each line keeps half its value
        fact("crm.order.refunded", T - days(9), order_id="O-1", amount="55.00"),
        fact("crm.complaint.opened", T - days(8), complaint_id="K-1", priority="high",
             category="product", sku="G-1"),
        fact("crm.complaint.resolved", T - days(7), complaint_id="K-1"),
        fact("crm.complaint.opened", T - days(5), complaint_id="K-2", priority="normal",
             category="delivery", order_id="O-1"),
        fact("crm.complaint.opened", T - days(4), complaint_id="K-3", priority="low",
             category="service", sku="X-9"),  # a product not bought
        fact("crm.complaint.opened", T - days(3), complaint_id="K-4", priority="low"),  # old kind
    ]


def test_products_bought_net_of_cancellations_with_refunds_spread_over_the_lines() -> None:
    view = fold_customer("C-1", shopper(), T)
    k1 = {"complaint_id": "K-1", "opened_at": T - days(8), "status": "resolved",
          "category": "product", "priority": "high", "order_id": None, "sku": "G-1"}
    k2 = {"complaint_id": "K-2", "opened_at": T - days(5), "status": "open",
          "category": "delivery", "priority": "normal", "order_id": "O-1", "sku": None}
    k3 = {"complaint_id": "K-3", "opened_at": T - days(4), "status": "open",
          "category": "service", "priority": "low", "order_id": None, "sku": "X-9"}
    assert view.products == [
        {"sku": "B-1", "name": "Beans 1kg", "count": 6, "orders": 2, "last_time": T - days(10),
         "net_spend": {"EUR": "5.00", "USD": "20.00"}, "complaints": [k2]},
        {"sku": "G-1", "name": "Grinder", "count": 1, "orders": 1, "last_time": T - days(30),
         "net_spend": {"EUR": "50.00"}, "complaints": [k2, k1]},
        {"sku": "X-9", "name": None, "count": 0, "orders": 0, "last_time": None,
         "net_spend": {}, "complaints": [k3]},
    ]
    assert view.complaints["last"] == {
        "complaint_id": "K-4", "opened_at": T - days(3), "status": "open", "category": None,
        "priority": "low", "order_id": None, "sku": None}
    as_of_k2 = fold_customer("C-1", shopper(), T - days(5))
    assert as_of_k2.complaints["last"] == k2  # the complaint entry shows its order


def test_a_refund_larger_than_the_lines_leaves_nothing_and_orders_without_items_no_product() -> None:
    view = fold_customer("C-1", [
        fact("crm.order.placed", T - days(3), order_id="O-1", amount="12.00", currency="EUR",
             items=[item("B-1", 1, "10.00")]),  # shipping on top
        fact("crm.order.refunded", T - days(2), order_id="O-1", amount="12.00"),
        order(T - days(1), "O-2", "99.00"),
    ], T)
    assert [(p["sku"], p["count"], p["net_spend"]) for p in view.products] == [
        ("B-1", 1, {"EUR": "0.00"})]


def test_social_identities_from_social_contacts_that_name_them() -> None:
    view = fold_customer("C-1", [
        contact(T - days(9), channel="social", platform="instagram", handle="@ada_l"),
        contact(T - days(5), channel="social", platform="instagram", handle="@ada_l"),
        contact(T - days(4), channel="social", platform="x", handle="@ada"),
        contact(T - days(3), channel="social"),  # names neither
        contact(T - days(2), channel="phone"),
    ], T)
    assert view.social_identities == [
        {"platform": "x", "handle": "@ada", "first_seen": T - days(4), "last_seen": T - days(4),
         "contacts": 1},
        {"platform": "instagram", "handle": "@ada_l", "first_seen": T - days(9),
         "last_seen": T - days(5), "contacts": 2},
    ]
    erased = fold_customer("C-1", [  # as an erased customer's facts read back
        contact(T - days(9), channel="social", platform="instagram", handle=None)], T)
    assert erased.social_identities == [{"platform": "instagram", "handle": None,
                                         "first_seen": T - days(9), "last_seen": T - days(9),
                                         "contacts": 1}]


def test_profile_history_keeps_the_last_twenty_changes_with_who_made_them() -> None:
    changes = [fact("crm.account.updated", T - days(40 - n), changes={"phone": f"+49 {n}"},
                    actor={"kind": "agent", "id": f"A-{n:03d}"}) for n in range(21)]
    view = fold_customer("C-1", [
        *changes,
        fact("crm.account.updated", T - days(2), changes={"phone": "+49 1", "email": "a@b.c"},
             actor={"kind": "customer", "id": None}),
        fact("crm.account.consent_changed", T - days(1), channel="sms", granted=False,
             actor={"kind": "system", "id": "import-job"}),
        fact("crm.account.closed", T - days(0.5), reason="moved"),  # the source did not say
    ], T)
    history = view.profile_history
    assert len(history) == 20
    assert history[:3] == [
        {"time": T - days(0.5), "type": "crm.account.closed", "fields": ["status"],
         "actor": None, "by": None},
        {"time": T - days(1), "type": "crm.account.consent_changed", "fields": ["consents.sms"],
         "actor": {"kind": "system", "id": "import-job"}, "by": "by system import-job"},
        {"time": T - days(2), "type": "crm.account.updated", "fields": ["email", "phone"],
         "actor": {"kind": "customer", "id": None}, "by": "by the customer (self-service)"},
    ]
    assert history[-1]["actor"] == {"kind": "agent", "id": "A-004"}  # the oldest kept
    assert "+49" not in str(history)  # field names, never values
