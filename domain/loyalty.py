"""The loyalty score of SPEC §4, computed as of a moment, with every component shown.

    R = 1 if the last order is at most 30 days old, falling linearly to 0 at 365 days
    F = min(orders in the last 365 days / 12, 1)
    M = min(net spend in the last 365 days / 2000, 1), in the base currency
    E = min((inbound contacts + survey answers in the last 90 days) / 5, 1)
    base = 100 * (0.35 R + 0.25 F + 0.30 M + 0.10 E)
    penalty = 10 per open complaint + 5 per SLA breach in the last 365 days, at most 30
    score = round(base - penalty) clamped to 0..100
    tier: platinum >= 80, gold >= 60, silver >= 40, bronze below

"Net" orders leave out cancelled ones and subtract refunds from their order.
Windows are inclusive of their edge (an order exactly 365 days old still counts).
Spend in a currency without an exchange rate to the base currency is left out
of M (and named in ``unconverted_currencies``), never guessed. ``round`` is
half-up, as people round, not Python's banker's rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class LoyaltyPolicy:
    """Weights and thresholds; the defaults are SPEC §4's."""

    weight_recency: Decimal = Decimal("0.35")
    weight_frequency: Decimal = Decimal("0.25")
    weight_monetary: Decimal = Decimal("0.30")
    weight_engagement: Decimal = Decimal("0.10")
    recency_full_days: int = 30
    recency_zero_days: int = 365
    frequency_orders: int = 12
    monetary_target: Decimal = Decimal("2000")
    engagement_target: int = 5
    engagement_days: int = 90
    window_days: int = 365
    penalty_open_complaint: int = 10
    penalty_breach: int = 5
    penalty_cap: int = 30
    tiers: tuple[tuple[str, int], ...] = (("platinum", 80), ("gold", 60), ("silver", 40))
    base_currency: str = "EUR"
    #: Value of one unit of each currency in the base currency.
    exchange_rates: Mapping[str, Decimal] = field(default_factory=lambda: {"EUR": Decimal(1)})

    def tier(self, score: int) -> str:
        for name, threshold in self.tiers:
            if score >= threshold:
                return name
        return "bronze"


@dataclass(frozen=True)
class NetOrder:
    """An order that counts: not cancelled, its refunds already subtracted."""

    placed_at: datetime
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class LoyaltyInputs:
    orders: Sequence[NetOrder]
    engagements: Sequence[datetime]  # inbound contacts and survey answers
    open_complaints: int
    breaches: Sequence[datetime]  # when each SLA breach happened


@dataclass(frozen=True)
class LoyaltyScore:
    as_of: datetime
    score: int
    tier: str
    recency: float
    frequency: float
    monetary: float
    engagement: float
    base: float
    penalty: int
    orders_in_window: int
    net_spend_in_window: Decimal
    engagements_in_window: int
    open_complaints: int
    breaches_in_window: int
    base_currency: str
    unconverted_currencies: tuple[str, ...]


def _within(moment: datetime, as_of: datetime, days: int) -> bool:
    return as_of - timedelta(days=days) <= moment <= as_of


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal:
    return min(Decimal(part) / Decimal(whole), Decimal(1))


def loyalty_score(inputs: LoyaltyInputs, as_of: datetime, policy: LoyaltyPolicy) -> LoyaltyScore:
    """The score as of ``as_of``; facts after it are ignored, so any past moment works.

    Decimal arithmetic throughout, so a score on a tier boundary is exact.
    """
    p = policy
    orders = [o for o in inputs.orders if o.placed_at <= as_of]
    recency = Decimal(0)
    if orders:
        age = as_of - max(o.placed_at for o in orders)
        age_days = Decimal(age // timedelta(microseconds=1)) / Decimal(86_400_000_000)
        span = p.recency_zero_days - p.recency_full_days
        recency = min(Decimal(1), max(Decimal(0), (p.recency_zero_days - age_days) / span))

    recent = [o for o in orders if _within(o.placed_at, as_of, p.window_days)]
    frequency = _ratio(len(recent), p.frequency_orders)

    spend = Decimal(0)
    unconverted = set()
    for order in recent:
        rate = p.exchange_rates.get(order.currency)
        if rate is None:
            unconverted.add(order.currency)
        else:
            spend += order.amount * rate
    monetary = _ratio(max(spend, Decimal(0)), p.monetary_target)

    engaged = sum(1 for t in inputs.engagements if _within(t, as_of, p.engagement_days))
    engagement = _ratio(engaged, p.engagement_target)

    base = 100 * (
        p.weight_recency * recency
        + p.weight_frequency * frequency
        + p.weight_monetary * monetary
        + p.weight_engagement * engagement
    )
    breaches = sum(1 for t in inputs.breaches if _within(t, as_of, p.window_days))
    penalty = min(
        p.penalty_open_complaint * inputs.open_complaints + p.penalty_breach * breaches,
        p.penalty_cap,
    )
    rounded = int((base - penalty).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    score = max(0, min(100, rounded))
    return LoyaltyScore(
        as_of=as_of,
        score=score,
        tier=p.tier(score),
        recency=float(round(recency, 6)),
        frequency=float(round(frequency, 6)),
        monetary=float(round(monetary, 6)),
        engagement=float(round(engagement, 6)),
        base=float(round(base, 4)),
        penalty=penalty,
        orders_in_window=len(recent),
        net_spend_in_window=spend.quantize(Decimal("0.01")),
        engagements_in_window=engaged,
        open_complaints=inputs.open_complaints,
        breaches_in_window=breaches,
        base_currency=p.base_currency,
        unconverted_currencies=tuple(sorted(unconverted)),
    )
