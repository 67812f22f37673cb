"""The loyalty score, exactly as SPEC §4 defines it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.loyalty import LoyaltyInputs, LoyaltyPolicy, NetOrder, loyalty_score
from tests.facts import T, days

pytestmark = pytest.mark.unit

POLICY = LoyaltyPolicy()


def score(orders=(), engagements=(), open_complaints=0, breaches=(), as_of=T, policy=POLICY):
    return loyalty_score(
        LoyaltyInputs(list(orders), list(engagements), open_complaints, list(breaches)), as_of, policy
    )


def year_old_orders(count: int, total: str) -> list[NetOrder]:
    """``count`` orders exactly 365 days old: R = 0, yet inside F's and M's window."""
    each = Decimal(total) / count
    return [NetOrder(T - days(365), each, "EUR") for _ in range(count)]


def test_no_orders_no_contacts_scores_zero() -> None:
    result = score()
    assert (result.score, result.tier, result.recency, result.frequency, result.monetary,
            result.engagement, result.penalty) == (0, "bronze", 0, 0, 0, 0, 0)


def test_recency_falls_linearly_from_30_to_365_days() -> None:
    assert score([NetOrder(T - days(30), Decimal(1), "EUR")]).recency == 1.0
    assert score([NetOrder(T - days(197.5), Decimal(1), "EUR")]).recency == 0.5
    assert score([NetOrder(T - days(365), Decimal(1), "EUR")]).recency == 0.0
    assert score([NetOrder(T - days(400), Decimal(1), "EUR")]).recency == 0.0


@pytest.mark.parametrize(
    ("orders", "engagements", "breaches", "expected_score", "expected_tier"),
    [
        (year_old_orders(12, "930"), 0, 0, 39, "bronze"),  # 25 + 13.95 = 38.95
        (year_old_orders(12, "1000"), 0, 0, 40, "silver"),  # 25 + 15
        (year_old_orders(12, "1630"), 5, 0, 59, "silver"),  # 25 + 24.45 + 10 = 59.45
        (year_old_orders(12, "1640"), 5, 0, 60, "gold"),  # 59.6
        ([NetOrder(T, Decimal("1460"), "EUR")] + year_old_orders(5, "0"), 5, 0, 79, "gold"),
        ([NetOrder(T, Decimal("1470"), "EUR")] + year_old_orders(5, "0"), 5, 0, 80, "platinum"),
        (year_old_orders(12, "2000"), 5, 1, 60, "gold"),  # 65 - 5
    ],
)
def test_tier_boundaries(orders, engagements, breaches, expected_score, expected_tier) -> None:
    result = score(orders, [T - days(1)] * engagements, breaches=[T - days(2)] * breaches)
    assert (result.score, result.tier) == (expected_score, expected_tier)


def test_a_half_point_rounds_up_like_people_round() -> None:
    # 12 year-old orders, 1630 EUR: base 49.45; with 5 engagements 59.45 -> 59; 1633.34 -> 59.5 -> 60
    assert score(year_old_orders(12, "1633.34"), [T] * 5).score == 60


def test_penalty_counts_open_complaints_and_breaches_of_the_last_year_capped_at_30() -> None:
    orders = year_old_orders(12, "2000")  # base 55
    assert score(orders, open_complaints=1).penalty == 10
    assert score(orders, breaches=[T - days(10), T - days(364)]).penalty == 10
    assert score(orders, breaches=[T - days(366)]).penalty == 0
    assert score(orders, open_complaints=2, breaches=[T] * 3).penalty == 30
    assert score(orders, open_complaints=9).score == 25


def test_spend_is_converted_to_the_base_currency_and_unknown_currencies_are_named() -> None:
    policy = LoyaltyPolicy(exchange_rates={"EUR": Decimal(1), "USD": Decimal("0.5")})
    result = score([NetOrder(T, Decimal(1000), "USD"), NetOrder(T, Decimal(100), "JPY")],
                   policy=policy)
    assert result.net_spend_in_window == Decimal("500.00")
    assert result.monetary == 0.25
    assert result.unconverted_currencies == ("JPY",)


def test_the_score_decays_as_time_passes_without_events() -> None:
    orders = [NetOrder(T - days(10), Decimal(400), "EUR")]
    now, later = score(orders), score(orders, as_of=T + days(200))
    assert (now.recency, now.frequency, now.monetary) == (1.0, round(1 / 12, 6), 0.2)
    assert now.score == round(35 + 25 / 12 + 6)  # 43
    assert later.recency == pytest.approx((365 - 210) / 335, abs=1e-6)
    assert later.score == 24  # 16.19 + 2.08 + 6 = 24.28


def test_facts_after_as_of_are_ignored() -> None:
    assert score([NetOrder(T + days(1), Decimal(2000), "EUR")]).score == 0


def test_weights_and_tiers_are_configurable() -> None:
    policy = LoyaltyPolicy(weight_recency=Decimal(1), weight_frequency=Decimal(0),
                           weight_monetary=Decimal(0), weight_engagement=Decimal(0),
                           tiers=(("vip", 90),))
    result = score([NetOrder(T, Decimal(1), "EUR")], policy=policy)
    assert (result.score, result.tier) == (100, "vip")
