"""Anomaly and fraud flags on a customer's orders and account changes.

Four patterns, each judged against the customer's own history, never a fixed
amount for everyone:

* ``amount_outlier``: an order far above what this customer usually spends in
  its currency: more than ``amount_mads`` robust deviations (median absolute
  deviation, scaled to a standard deviation) above the median of their earlier
  orders, and at least ``amount_min_ratio`` times that median;
* ``order_burst``: ``burst_orders`` orders or more within ``burst_minutes``;
* ``refund_heavy``: refunds on at least ``refund_share`` of at least
  ``refund_min_orders`` orders;
* ``contact_change_then_order``: the e-mail or phone changed, then an order
  within ``takeover_hours`` (the account-takeover pattern).

Each flag is an alert of kind ``anomaly`` with a stable id (the pattern and the
fact that completed it), a reason code, the figures behind it and a sentence an
agent can read out.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from domain.alerts import Alert
from domain.facts import CustomerFact

#: The facts the rules read.
#: The reason codes a flag carries.
REASONS = ("amount_outlier", "order_burst", "refund_heavy", "contact_change_then_order")
ANOMALY_TYPES = ("crm.order.placed", "crm.order.refunded", "crm.account.updated")
#: A median absolute deviation times this is a standard deviation for normal data.
_MAD_TO_SD = Decimal("1.4826")


@dataclass(frozen=True)
class AnomalyPolicy:
    amount_mads: float = 5.0
    amount_min_ratio: float = 3.0
    amount_min_orders: int = 5
    burst_orders: int = 3
    burst_minutes: float = 10.0
    refund_share: float = 0.6
    refund_min_orders: int = 5
    takeover_hours: float = 2.0


def _amount(fact: CustomerFact) -> Decimal | None:
    try:
        return Decimal(str(fact.data.get("amount")))
    except (InvalidOperation, ValueError):
        return None


def flag(code: str, customer_id: str, fact: CustomerFact, summary: str,
         **figures: object) -> Alert:
    digest = hashlib.sha256(f"{code}/{customer_id}/{fact.event_id}".encode()).hexdigest()[:24]
    return Alert(f"anomaly-{digest}", "anomaly", customer_id, fact.occurred_at,
                 {"reason": code, "summary": summary, "event_id": fact.event_id, **figures})


#: Earlier orders in a currency an order is compared with (the most recent ones): the
#: customer's own recent pattern, and a bounded cost per order.
BASELINE_ORDERS = 50


class AnomalyFold:
    """One customer's flags, fact by fact in event-time order (``add``); kept between
    batches by the read model, so a busy customer's next order costs what a new one's does."""

    def __init__(self, customer_id: str, policy: AnomalyPolicy = AnomalyPolicy()) -> None:
        self.customer_id = customer_id
        self.policy = policy
        self.last_key: tuple[datetime, str] | None = None
        self.count = 0
        self._spent: dict[str, deque[Decimal]] = {}
        self._recent: deque[CustomerFact] = deque()  # orders within the burst window
        self._orders = 0
        self._refunded: set[str] = set()
        self._refund_flagged = False
        self._changed: tuple[datetime, list[str]] | None = None
        self._burst_until: datetime | None = None

    def add(self, fact: CustomerFact) -> list[Alert]:
        """The flags this fact raises (facts must come in event-time order)."""
        self.last_key = (fact.occurred_at, fact.event_id)
        self.count += 1
        if fact.event_type == "crm.account.updated":
            fields = sorted({"email", "phone"} & set(fact.data.get("changes") or {}))
            if fields:
                self._changed = (fact.occurred_at, fields)
        elif fact.event_type == "crm.order.refunded":
            return self._refund(fact)
        elif fact.event_type == "crm.order.placed":
            return self._order(fact)
        return []

    def _refund(self, fact: CustomerFact) -> list[Alert]:
        self._refunded.add(str(fact.data.get("order_id")))
        p = self.policy
        if (self._refund_flagged or self._orders < p.refund_min_orders
                or len(self._refunded) < p.refund_share * self._orders):
            return []
        self._refund_flagged = True
        return [flag("refund_heavy", self.customer_id, fact,
                     f"refunds on {len(self._refunded)} of {self._orders} orders",
                     refunded_orders=len(self._refunded), orders=self._orders)]

    def _order(self, fact: CustomerFact) -> list[Alert]:
        p, found = self.policy, []
        amount, currency = _amount(fact), str(fact.data.get("currency"))
        earlier = self._spent.setdefault(currency, deque(maxlen=BASELINE_ORDERS))
        if amount is not None and len(earlier) >= p.amount_min_orders:
            median = statistics.median(earlier)
            mad = statistics.median(abs(a - median) for a in earlier) * _MAD_TO_SD
            if amount > median * Decimal(str(p.amount_min_ratio)) and \
                    amount > median + Decimal(str(p.amount_mads)) * mad:
                found.append(flag(
                    "amount_outlier", self.customer_id, fact,
                    f"order of {amount} {currency}, {amount / median:.1f} times this "
                    f"customer's usual {median} {currency}",
                    amount=str(amount), currency=currency, median=str(median),
                    deviation=str(mad.quantize(Decimal("0.01"))), earlier_orders=len(earlier)))
        window = fact.occurred_at - timedelta(minutes=p.burst_minutes)
        while self._recent and self._recent[0].occurred_at < window:
            self._recent.popleft()
        if len(self._recent) + 1 >= p.burst_orders and (
                self._burst_until is None or fact.occurred_at > self._burst_until):
            self._burst_until = fact.occurred_at + timedelta(minutes=p.burst_minutes)
            found.append(flag(
                "order_burst", self.customer_id, fact,
                f"{len(self._recent) + 1} orders within {p.burst_minutes:g} minutes",
                orders=len(self._recent) + 1, minutes=p.burst_minutes,
                first=self._recent[0].occurred_at.isoformat(), last=fact.occurred_at.isoformat()))
        if self._changed is not None:
            hours = (fact.occurred_at - self._changed[0]).total_seconds() / 3600
            if hours <= p.takeover_hours:
                found.append(flag(
                    "contact_change_then_order", self.customer_id, fact,
                    f"{' and '.join(self._changed[1])} changed, then an order "
                    f"{hours:.1f} hours later",
                    changed=self._changed[1], hours=round(hours, 2),
                    window_hours=p.takeover_hours))
            self._changed = None  # the first order after a change is the one that counts
        self._recent.append(fact)
        self._orders += 1
        if amount is not None:
            earlier.append(amount)
        return found


def event_order(fact: CustomerFact) -> tuple[datetime, str]:
    return (fact.occurred_at, fact.event_id)


def anomalies(customer_id: str, facts: Iterable[CustomerFact],
              policy: AnomalyPolicy = AnomalyPolicy()) -> list[Alert]:
    """Every flag the customer's facts raise (other types are ignored): the same facts
    give the same flags, whatever order they were recorded in."""
    fold = AnomalyFold(customer_id, policy)
    return [alert for fact in sorted(facts, key=event_order) for alert in fold.add(fact)]
