"""Who a complaint's customer is when the complaint opens: the segment and tier SLA targets.

A policy may give tighter targets to a customer segment or loyalty tier
(``SlaPolicy.targets_for``). Every consumer of the SLA rules (the SLA clock, the 360,
the reports, the what-if) replays complaints deterministically, so the standing must
come from the complaint's own customer's facts alone, and the same way in each:

* **segment**: the profile ``segment`` (``crm.account.opened``, ``crm.account.updated``
  ``changes.segment``; null clears it) as it stands after the customer's facts that
  occurred *strictly before* the opening. Compared without regard to case or
  surrounding spaces.
* **tier**: the loyalty tier (``domain/loyalty.py``, SPEC §4 weights and thresholds) as of
  the opening, from the customer's net orders, inbound contacts and survey answers that
  occurred strictly before it, *without the complaint penalty*. The penalty counts open
  complaints and SLA breaches; leaving it out keeps a complaint's targets from depending
  on how earlier complaints were judged (targets depending on targets), and keeps the
  SLA clock replaying one complaint, not all of a customer's.

"Strictly before" is what a fold in event-time order (the 360) and a replay of facts in
any order (the SLA clock) both see alike. The standing is set at the opening and kept
through escalations and reopenings. A fold reads these facts only when a policy of the
book targets by segment or tier (``PolicyBook.targeting``): otherwise nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.loyalty import LoyaltyInputs, LoyaltyPolicy, NetOrder, loyalty_score

TIERS = ("bronze", "silver", "gold", "platinum")
SEGMENT, TIER = "segment", "tier"
SEGMENT_TYPES = frozenset({"crm.account.opened", "crm.account.updated"})
TIER_TYPES = frozenset({"crm.order.placed", "crm.order.cancelled", "crm.order.refunded",
                        "crm.contact.logged", "crm.survey.answered"})


def segment_key(name: str | None) -> str | None:
    """A segment name as targets compare it (``" VIP "`` is ``"vip"``); None if empty."""
    if name is None:
        return None
    return name.strip().casefold() or None


def standing_types(targeting: Iterable[str]) -> frozenset[str]:
    """The fact types a standing of these kinds (``SEGMENT``, ``TIER``) reads."""
    kinds = set(targeting)
    return (SEGMENT_TYPES if SEGMENT in kinds else frozenset()) | (
        TIER_TYPES if TIER in kinds else frozenset())


@dataclass(frozen=True)
class Standing:
    segment: str | None = None
    tier: str | None = None


NO_STANDING = Standing()


class StandingFact(Protocol):
    event_type: str
    occurred_at: datetime
    timestamp: datetime
    event_id: str
    data: dict[str, Any]


@dataclass
class _Order:
    placed_at: datetime
    amount: Decimal
    currency: str
    cancelled_at: list[datetime] = field(default_factory=list)
    refunds: list[tuple[datetime, Decimal]] = field(default_factory=list)


@dataclass
class StandingFold:
    """One customer's facts the standing reads, kept with their times, fed in any order;
    ``at(moment)`` is the standing at an opening then (module doc)."""

    targeting: frozenset[str] = frozenset()
    loyalty: LoyaltyPolicy = field(default_factory=LoyaltyPolicy)
    #: ((occurred_at, timestamp, event_id): the 360's event order, new segment or None).
    segments: list[tuple[tuple[datetime, datetime, str], str | None]] = field(
        default_factory=list)
    orders: dict[str, _Order] = field(default_factory=dict)
    #: Cancellations and refunds may be heard before their order in a replay.
    follow_ups: list[StandingFact] = field(default_factory=list)
    engagements: list[datetime] = field(default_factory=list)

    @property
    def reads(self) -> frozenset[str]:
        return standing_types(self.targeting)

    def note(self, fact: StandingFact) -> None:
        """Take one fact if the standing reads it (any other is ignored)."""
        kind, data = fact.event_type, fact.data
        if kind not in self.reads:
            return
        order = (fact.occurred_at, fact.timestamp, fact.event_id)
        if kind == "crm.account.opened" and data.get("segment") is not None:
            self.segments.append((order, data["segment"]))
        elif kind == "crm.account.updated" and "segment" in (data.get("changes") or {}):
            self.segments.append((order, data["changes"]["segment"]))
        elif kind == "crm.order.placed":
            self.orders[data["order_id"]] = _Order(fact.occurred_at, Decimal(data["amount"]),
                                                   data["currency"])
        elif kind in ("crm.order.cancelled", "crm.order.refunded"):
            self.follow_ups.append(fact)
        elif kind == "crm.survey.answered" or (
                kind == "crm.contact.logged" and data.get("direction") == "inbound"):
            self.engagements.append(fact.occurred_at)

    def at(self, moment: datetime) -> Standing:
        """The standing at an opening at ``moment``: from facts strictly before it."""
        return Standing(self._segment(moment) if SEGMENT in self.targeting else None,
                        self._tier(moment) if TIER in self.targeting else None)

    def _segment(self, moment: datetime) -> str | None:
        before = [s for s in self.segments if s[0][0] < moment]
        return segment_key(max(before, key=lambda s: s[0])[1]) if before else None

    def _tier(self, moment: datetime) -> str:
        orders = {order_id: _Order(o.placed_at, o.amount, o.currency)
                  for order_id, o in self.orders.items() if o.placed_at < moment}
        for fact in self.follow_ups:
            order = orders.get(fact.data["order_id"])
            # As the 360 folds them: only a follow-up after its order changes it.
            if order is None or not order.placed_at <= fact.occurred_at < moment:
                continue
            if fact.event_type == "crm.order.cancelled":
                order.cancelled_at.append(fact.occurred_at)
            else:
                order.refunds.append((fact.occurred_at, Decimal(fact.data["amount"])))
        net = [NetOrder(o.placed_at, max(o.amount - sum(a for _, a in o.refunds), Decimal(0)),
                        o.currency) for o in orders.values() if not o.cancelled_at]
        inputs = LoyaltyInputs(net, [t for t in self.engagements if t < moment], 0, ())
        return loyalty_score(inputs, moment, self.loyalty).tier


class Standings:
    """A ``StandingFold`` per customer (the members of a merge group keep their own)."""

    def __init__(self, targeting: frozenset[str], loyalty: LoyaltyPolicy | None = None) -> None:
        self.targeting = targeting
        self.loyalty = loyalty or LoyaltyPolicy()
        self._folds: dict[str, StandingFold] = {}

    def of(self, customer_id: str) -> StandingFold:
        fold = self._folds.get(customer_id)
        if fold is None:
            fold = self._folds[customer_id] = StandingFold(self.targeting, self.loyalty)
        return fold

    def note(self, customer_id: str, fact: StandingFact) -> None:
        if self.targeting:
            self.of(customer_id).note(fact)


@dataclass(frozen=True)
class _Kept:
    event_type: str
    occurred_at: datetime
    timestamp: datetime
    event_id: str
    data: dict[str, Any]


def compact(fact: StandingFact) -> list[Any]:
    """What a standing reads of a fact, JSON-ready (a report's memory: no personal field)."""
    data = fact.data
    kept = {k: data[k] for k in ("segment", "order_id", "amount", "currency", "direction")
            if k in data}
    if "segment" in (data.get("changes") or {}):
        kept["changes"] = {"segment": data["changes"]["segment"]}
    return [fact.event_type, fact.occurred_at.isoformat(), fact.timestamp.isoformat(),
            fact.event_id, kept]


def from_compact(kept: list[Any]) -> StandingFact:
    event_type, occurred_at, timestamp, event_id, data = kept
    return _Kept(event_type, datetime.fromisoformat(occurred_at),
                 datetime.fromisoformat(timestamp), event_id, data)
