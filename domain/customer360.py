"""The customer 360 view: everything an agent needs first, folded from a customer's facts.

A pure fold over facts in event-time order, as of a moment: facts after
``as_of`` are ignored and every time window (loyalty, outbound contacts in the
last 7 days, breaches) is measured back from it, so the view of any past moment
is the same fold with an earlier ``as_of``. Merge and unmerge facts change who
belongs to the customer (``domain/identity.py``), not the customer's activity,
so they are left out here: the 360 of a survivor equals the 360 of one customer
who had all the events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.alerts import Alert
from domain.complaints import Complaint, Verdict, record_complaint_fact
from domain.facts import CustomerFact
from domain.loyalty import LoyaltyInputs, LoyaltyPolicy, LoyaltyScore, NetOrder, loyalty_score
from domain.sla_policy import DEFAULT_POLICY_BOOK, PolicyBook

PROFILE_FIELDS = ("name", "email", "phone", "address", "country", "segment", "language")
IDENTITY_TYPES = frozenset({"crm.account.merged", "crm.account.unmerged"})
#: Contact channels that need the customer's consent for outbound contact.
CONSENT_FOR_CHANNEL = {"email": "email", "sms": "sms", "phone": "phone", "letter": "post"}


@dataclass(frozen=True)
class FatiguePolicy:
    """More than ``max_outbound`` outbound contacts in any trailing ``window`` is fatigue."""

    max_outbound: int = 3
    window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Policies:
    loyalty: LoyaltyPolicy = LoyaltyPolicy()
    fatigue: FatiguePolicy = FatiguePolicy()
    sla: PolicyBook = DEFAULT_POLICY_BOOK


@dataclass
class _Order:
    order_id: str
    placed_at: datetime
    amount: Decimal
    currency: str
    refunded: Decimal = Decimal(0)
    cancelled: bool = False

    @property
    def net(self) -> Decimal:
        return max(self.amount - self.refunded, Decimal(0))


@dataclass(frozen=True)
class Customer360:
    customer_id: str
    as_of: datetime
    profile: dict[str, Any]
    status: str
    owner: dict[str, Any] | None
    acquisition_channel: str | None
    consents: dict[str, bool]
    orders: dict[str, Any]
    complaints: dict[str, Any]
    contacts: dict[str, Any]
    satisfaction: dict[str, Any]
    loyalty: LoyaltyScore
    flags: dict[str, bool]
    alerts: list[Alert]
    last_event_time: datetime | None
    event_count: int


def by_event_time(facts: Iterable[CustomerFact]) -> list[CustomerFact]:
    """Event-time order; ties keep recording order (the store's position)."""
    return sorted(facts, key=lambda f: (f.occurred_at, f.timestamp, f.event_id))


def fold_customer(
    customer_id: str,
    facts: Sequence[CustomerFact],
    as_of: datetime,
    policies: Policies = Policies(),
) -> Customer360:
    """The 360 view of ``customer_id`` from its facts (and its duplicates'), as of ``as_of``."""
    profile: dict[str, Any] = {}
    status = "active"
    owner: dict[str, Any] | None = None
    acquisition: str | None = None
    consents: dict[str, bool] = {}
    orders: dict[str, _Order] = {}
    complaints: dict[str, Complaint] = {}
    contacts_by_channel: Counter[str] = Counter()
    last_contact: CustomerFact | None = None
    outbound: list[datetime] = []
    engagements: list[datetime] = []
    nps: list[int] = []
    csat: list[int] = []
    alerts: list[Alert] = []
    count = 0
    last_time: datetime | None = None

    for fact in by_event_time(f for f in facts if f.occurred_at <= as_of):
        kind, data, at = fact.event_type, fact.data, fact.occurred_at
        if kind in IDENTITY_TYPES:
            continue
        count += 1
        last_time = at
        if kind == "crm.account.opened":
            profile.update({k: data[k] for k in PROFILE_FIELDS if data.get(k) is not None})
            acquisition = data.get("acquisition_channel", acquisition)
        elif kind == "crm.account.updated":
            for name, value in data.get("changes", {}).items():
                if value is None:
                    profile.pop(name, None)
                else:
                    profile[name] = value
        elif kind == "crm.account.consent_changed":
            consents[data["channel"]] = bool(data["granted"])
        elif kind == "crm.account.owner_assigned":
            owner = {"id": data["owner_id"], "name": data.get("owner_name"), "since": at}
        elif kind == "crm.account.closed":
            status = "closed"
        elif kind == "crm.contact.logged":
            contacts_by_channel[data["channel"]] += 1
            last_contact = fact
            if data["direction"] == "inbound":
                engagements.append(at)
            else:
                outbound.append(at)
                alerts += _outbound_alerts(customer_id, fact, outbound, consents, policies.fatigue)
        elif kind == "crm.survey.answered":
            engagements.append(at)
            if data.get("nps") is not None:
                nps.append(data["nps"])
            if data.get("csat") is not None:
                csat.append(data["csat"])
        elif kind == "crm.order.placed":
            orders[data["order_id"]] = _Order(
                data["order_id"], at, Decimal(data["amount"]), data["currency"]
            )
        elif kind == "crm.order.cancelled" and data["order_id"] in orders:
            orders[data["order_id"]].cancelled = True
        elif kind == "crm.order.refunded" and data["order_id"] in orders:
            orders[data["order_id"]].refunded += Decimal(data["amount"])
        elif kind.startswith("crm.complaint."):
            record_complaint_fact(complaints, fact, policies.sla)

    breaches = [b for c in complaints.values() for b in c.breaches(as_of)]
    net_orders = [o for o in orders.values() if not o.cancelled]
    loyalty = loyalty_score(
        LoyaltyInputs(
            orders=[NetOrder(o.placed_at, o.net, o.currency) for o in net_orders],
            engagements=engagements,
            open_complaints=sum(1 for c in complaints.values() if c.is_open),
            breaches=[b.at for b in breaches],
        ),
        as_of,
        policies.loyalty,
    )
    window_start = as_of - policies.fatigue.window
    recent_outbound = sum(1 for t in outbound if t > window_start)
    open_breaches = [b for b in breaches if complaints[b.complaint_id].is_open]
    return Customer360(
        customer_id=customer_id,
        as_of=as_of,
        profile=profile,
        status=status,
        owner=owner,
        acquisition_channel=acquisition,
        consents=consents,
        orders=_purchase_pattern(net_orders),
        complaints=_complaint_summary(complaints, breaches),
        contacts={
            "total": sum(contacts_by_channel.values()),
            "by_channel": dict(sorted(contacts_by_channel.items())),
            "last_time": last_contact.occurred_at if last_contact else None,
            "last_channel": last_contact.data["channel"] if last_contact else None,
            "outbound_last_7_days": recent_outbound,
        },
        satisfaction={
            "nps_last": nps[-1] if nps else None,
            "nps_average": _mean(nps),
            "csat_last": csat[-1] if csat else None,
            "csat_average": _mean(csat),
        },
        loyalty=loyalty,
        flags={
            "contact_fatigue": recent_outbound > policies.fatigue.max_outbound,
            "open_sla_breach": bool(open_breaches),
            "outbound_without_consent": any(a.kind == "outbound_without_consent" for a in alerts),
        },
        alerts=alerts,
        last_event_time=last_time,
        event_count=count,
    )


def _outbound_alerts(
    customer_id: str,
    contact: CustomerFact,
    outbound: list[datetime],
    consents: dict[str, bool],
    fatigue: FatiguePolicy,
) -> list[Alert]:
    alerts = []
    at = contact.occurred_at
    in_window = sum(1 for t in outbound if t > at - fatigue.window)
    if in_window == fatigue.max_outbound + 1:  # crossing the line starts a fatigue episode
        alerts.append(Alert(f"contact_fatigue:{contact.event_id}", "contact_fatigue", customer_id, at,
                            {"outbound_in_window": in_window, "window_days": fatigue.window.days}))
    consent = CONSENT_FOR_CHANNEL.get(contact.data["channel"])
    if consent is not None and consents.get(consent) is False:
        alerts.append(Alert(f"outbound_without_consent:{contact.event_id}",
                            "outbound_without_consent", customer_id, at,
                            {"channel": contact.data["channel"], "consent": consent}))
    return alerts


def _purchase_pattern(orders: list[_Order]) -> dict[str, Any]:
    orders = sorted(orders, key=lambda o: o.placed_at)
    ltv: dict[str, Decimal] = {}
    counts: Counter[str] = Counter()
    for order in orders:
        ltv[order.currency] = ltv.get(order.currency, Decimal(0)) + order.net
        counts[order.currency] += 1
    gaps = [(b.placed_at - a.placed_at) / timedelta(days=1) for a, b in zip(orders, orders[1:], strict=False)]
    mean_gap = sum(gaps) / len(gaps) if gaps else None
    return {
        "count": len(orders),
        "lifetime_value": {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(ltv.items())},
        "average_order_value": {
            c: str((v / counts[c]).quantize(Decimal("0.01"))) for c, v in sorted(ltv.items())
        },
        "first_order_time": orders[0].placed_at if orders else None,
        "last_order_time": orders[-1].placed_at if orders else None,
        "mean_days_between_orders": round(mean_gap, 2) if mean_gap is not None else None,
        "predicted_next_order_time": (
            orders[-1].placed_at + timedelta(days=mean_gap) if mean_gap is not None else None
        ),
    }


def _complaint_summary(complaints: dict[str, Complaint], breaches: list[Verdict]) -> dict[str, Any]:
    last = max(complaints.values(), key=lambda c: c.opened_at, default=None)
    return {
        "open": sum(1 for c in complaints.values() if c.is_open),
        "total": len(complaints),
        "sla_breaches": len(breaches),
        "last": None if last is None else {
            "complaint_id": last.complaint_id,
            "opened_at": last.opened_at,
            "priority": last.priority,
            "category": last.category,
            "status": "open" if last.is_open else "resolved",
        },
    }


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
