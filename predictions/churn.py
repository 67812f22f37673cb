"""Churn risk: whether a customer has stopped buying, from their purchase history alone.

The model is BG/NBD (Fader, Hardie & Lee, "Counting your customers the easy way",
2005), made for non-contractual purchases: nobody cancels, they just stop. While
active, a customer buys at their own rate (gamma across customers); after each
purchase they may drop out for good (beta across customers). Three figures of a
customer's history are enough: repeat purchases ``x``, the age of the last one
``t_x`` and the customer's age ``T`` (days from the first purchase). Its four
parameters are fitted to every customer at once by maximum likelihood with
scipy's optimiser and special functions (``python bench/churn.py`` back-tests it
beside the naive rule and the load generator's truth).

A purchase day is a calendar day (UTC) with an order placed and not cancelled.
Everything is *as of* a moment: only facts that happened and were recorded by
then count, so a fact recorded later never changes a prediction as of earlier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import optimize, special

from domain.facts import CustomerFact

#: Customers with at least one repeat purchase a fit needs: fewer say too little about
#: how customers come back, and the fit refuses rather than guessing.
MIN_REPEAT_CUSTOMERS = 30
#: The horizon of ``expected_orders`` and ``p_order_within`` shown on the 360.
HORIZON_DAYS = 90
_DAY = 86_400.0
ORDER_TYPES = ("crm.order.placed", "crm.order.cancelled")  # what a purchase history reads


class NotEnoughHistory(ValueError):
    """The history holds too few customers who came back to fit the model."""


@dataclass(frozen=True)
class PurchaseHistory:
    """What the model reads of one customer, as of a moment (days)."""

    customer_id: str
    frequency: int  # x: purchase days after the first
    recency: float  # t_x: days from the first purchase day to the last
    age: float  # T: days from the first purchase day to the moment
    days_since_last: float

    @property
    def interval(self) -> float | None:
        """Mean days between purchase days, once there are two."""
        return self.recency / self.frequency if self.frequency else None


def purchase_history(customer_id: str, facts: Iterable[CustomerFact], as_of: datetime, *,
                     known_at: datetime | None) -> PurchaseHistory | None:
    """The customer's purchase days as of ``as_of`` (None: no order by then): facts that
    happened by then and were recorded by ``known_at`` (usually ``as_of`` itself; None only
    for a history loaded after the fact, as a back-test's is)."""
    placed: dict[str, datetime] = {}
    cancelled: set[str] = set()
    for fact in facts:
        if (fact.event_type not in ORDER_TYPES or fact.occurred_at > as_of
                or (known_at is not None and fact.timestamp > known_at)):
            continue
        order_id = str(fact.data.get("order_id"))
        if fact.event_type == "crm.order.placed":
            placed.setdefault(order_id, fact.occurred_at)
        else:
            cancelled.add(order_id)
    days = sorted({at.timestamp() // _DAY for order, at in placed.items() if order not in cancelled})
    if not days:
        return None
    now = as_of.timestamp() / _DAY
    return PurchaseHistory(customer_id, len(days) - 1, days[-1] - days[0], now - days[0],
                           now - days[-1])


def history_of_days(customer_id: str, order_days: int, first: datetime, last: datetime,
                    as_of: datetime) -> PurchaseHistory:
    """The purchase history of a customer known only by its number of order days and its
    first and last order (a 360 row), as ``purchase_history`` would give it."""
    first_day, last_day = first.timestamp() // _DAY, last.timestamp() // _DAY
    now = as_of.timestamp() / _DAY
    return PurchaseHistory(customer_id, order_days - 1, last_day - first_day, now - first_day,
                           now - last_day)


@dataclass(frozen=True)
class ChurnModel:
    """Fitted BG/NBD parameters: purchase rates ~ gamma(r, alpha), dropout ~ beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, h: PurchaseHistory) -> float:
        """The probability that the customer still buys (has not dropped out)."""
        if h.frequency == 0:
            return 1.0
        odds = (self.a / (self.b + h.frequency - 1)) * (
            (self.alpha + h.age) / (self.alpha + h.recency)) ** (self.r + h.frequency)
        return 1.0 / (1.0 + odds)

    def p_order_within(self, h: PurchaseHistory, days: float = HORIZON_DAYS) -> float:
        """The probability of at least one order in the next ``days``: alive, and not a
        quiet stretch (the posterior purchase rate is gamma(r + x, alpha + T))."""
        quiet = ((self.alpha + h.age) / (self.alpha + h.age + days)) ** (self.r + h.frequency)
        return self.p_alive(h) * (1.0 - quiet)

    def risk(self, h: PurchaseHistory) -> float:
        """The churn risk the 360, search, segments and exports show: the chance of no
        order in the next ``HORIZON_DAYS``, to four places."""
        return round(1.0 - self.p_order_within(h), 4)

    def expected_orders(self, h: PurchaseHistory, days: float = HORIZON_DAYS) -> float:
        """Expected purchase days in the next ``days`` (the paper's equation 10)."""
        r, alpha, a, b, x = self.r, self.alpha, self.a, self.b, h.frequency
        if a <= 1:  # the closed form needs a > 1; its limit is not worth a special case
            return self.p_order_within(h, days)
        z = days / (alpha + h.age + days)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + h.age) / (alpha + h.age + days)) ** (r + x) * special.hyp2f1(
            r + x, b + x, a + b + x - 1, z)
        alive_term = 1.0 if x == 0 else 1 + (a / (b + x - 1)) * (
            (alpha + h.age) / (alpha + h.recency)) ** (r + x)
        return float(head * tail / alive_term)

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def log_likelihood(params: Sequence[float], x: np.ndarray, tx: np.ndarray,
                   age: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (the paper's equation 6)."""
    r, alpha, a, b = params
    first = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
             + special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b)
             - special.gammaln(a + b + x))
    quiet = -(r + x) * np.log(alpha + age)
    with np.errstate(divide="ignore"):
        dropped = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12))
                           - (r + x) * np.log(alpha + tx), -np.inf)
    return first + np.logaddexp(quiet, dropped)


@dataclass(frozen=True)
class Fit:
    model: ChurnModel
    customers: int
    repeat_customers: int
    log_likelihood: float


def fit(histories: Sequence[PurchaseHistory]) -> Fit:
    """The parameters most likely to have made these histories. ``NotEnoughHistory`` when
    fewer than ``MIN_REPEAT_CUSTOMERS`` customers bought again."""
    repeat = sum(1 for h in histories if h.frequency > 0)
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise NotEnoughHistory(
            f"{repeat} of {len(histories)} customers have ordered on more than one day; "
            f"fitting needs at least {MIN_REPEAT_CUSTOMERS}")
    x = np.array([h.frequency for h in histories], dtype=float)
    tx = np.array([h.recency for h in histories], dtype=float)
    age = np.array([h.age for h in histories], dtype=float)
    scale = max(float(age.max()), 1.0)  # fit in units of the longest age: better conditioned

    def negative(log_params: np.ndarray) -> float:
        total = log_likelihood(np.exp(log_params), x, tx / scale, age / scale).sum()
        return -float(total) if math.isfinite(total) else 1e300

    found = optimize.minimize(negative, np.zeros(4), method="Nelder-Mead",
                              options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-8})
    r, alpha, a, b = np.exp(found.x)
    return Fit(ChurnModel(float(r), float(alpha * scale), float(a), float(b)), len(histories),
               repeat, -float(found.fun))


def ordered_between(facts: Iterable[CustomerFact], after: datetime, until: datetime, *,
                    known_at: datetime | None) -> bool:
    """Whether an order was placed in (``after``, ``until``], as recorded by ``known_at``."""
    return any(f.event_type == "crm.order.placed" and after < f.occurred_at <= until
               and (known_at is None or f.timestamp <= known_at) for f in facts)


def explain(model: ChurnModel, h: PurchaseHistory) -> dict[str, object]:
    """The 360's churn figures for one customer, with the reasons in words an agent can
    repeat to the customer. ``risk`` is the chance of no order in the next 90 days: in
    the back-test it ranks customers better than ``1 - p_alive``, which is 1 for every
    customer who has bought once (BG/NBD lets a customer drop out only after a repeat)."""
    p_order = model.p_order_within(h)
    risk = 1.0 - p_order
    last = round(h.days_since_last)
    if h.interval is None:
        reasons = [f"one order so far, {_days(last)} ago: too little to see a rhythm"]
    elif h.days_since_last > h.interval:
        reasons = [f"no order for {_days(last)}; used to order every {_days(round(h.interval))}"]
    else:
        reasons = [f"last order {_days(last)} ago; orders about every "
                   f"{_days(round(h.interval))}"]
    reasons.append(f"{h.frequency + 1} order days in {_days(round(h.age))}")
    return {
        "risk": round(risk, 4),
        "level": "high" if risk >= 0.8 else "medium" if risk >= 0.5 else "low",
        "p_order_90d": round(p_order, 4),
        "p_alive": round(model.p_alive(h), 4),
        "expected_orders_90d": round(model.expected_orders(h), 3),
        "reasons": reasons,
    }


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"
