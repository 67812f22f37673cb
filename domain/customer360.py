"""The customer 360 view: everything an agent needs first, folded from a customer's facts.

A pure fold over facts in event-time order, as of a moment: facts after
``as_of`` are ignored and every time window (loyalty, outbound contacts in the
last 7 days, breaches) is measured back from it, so the view of any past moment
is the same fold with an earlier ``as_of``. Merge and unmerge facts change who
belongs to the customer (``domain/merges.py``, ``projections/identities.py``), not
the customer's activity, so they are left out here: the 360 of a survivor equals
the 360 of one customer who had all the events, but for consents: members whose own
latest choices disagree get the stricter one (no contact) until a choice is recorded
after the merge, which is the group's.

Beside the figures, the card lists the products bought with the past complaints about
each (``domain/products.py``), the customer's social identities (``domain/social.py``)
and who made the last profile changes (``domain/profile_history.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.alerts import Alert
from domain.anomalies import AnomalyPolicy
from domain.complaints import Complaint, Verdict, record_complaint_fact
from domain.facts import CustomerFact
from domain.loyalty import LoyaltyInputs, LoyaltyPolicy, LoyaltyScore, NetOrder, loyalty_score
from domain.products import (
    ComplaintSubject,
    OrderLine,
    ProductBook,
    complaint_entry,
    complaint_subject,
    order_lines,
)
from domain.profile_history import ACCOUNT_CHANGES, ProfileHistory
from domain.sla_policy import DEFAULT_POLICY_BOOK, PolicyBook
from domain.sla_standing import Standings
from domain.social import SocialIdentities

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
    anomaly: AnomalyPolicy = AnomalyPolicy()


@dataclass
class _Order:
    order_id: str
    placed_at: datetime
    amount: Decimal
    currency: str
    refunded: Decimal = Decimal(0)
    cancelled: bool = False
    lines: tuple[OrderLine, ...] = ()

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
    completeness: dict[str, Any] = field(default_factory=dict)
    #: Per SKU, newest bought first, with the complaints about it (``domain/products.py``).
    products: list[dict[str, Any]] = field(default_factory=list)
    social_identities: list[dict[str, Any]] = field(default_factory=list)
    #: The last account changes, newest first: fields, time and who made them.
    profile_history: list[dict[str, Any]] = field(default_factory=list)


#: What a complete customer record holds, in the order agents are asked to fill it in.
EXPECTED_FIELDS = ("email", "phone", "country", "consents", "owner")


def completeness(profile: dict[str, Any], consents: dict[str, bool],
                 owner: dict[str, Any] | None) -> dict[str, Any]:
    """Which expected fields the record lacks, and the share it holds (an erased
    customer's e-mail and phone count as missing: they are gone)."""
    present = {"email": bool(profile.get("email")), "phone": bool(profile.get("phone")),
               "country": bool(profile.get("country")), "consents": bool(consents),
               "owner": bool(owner)}
    missing = [name for name in EXPECTED_FIELDS if not present[name]]
    return {"share": round(1 - len(missing) / len(EXPECTED_FIELDS), 2), "missing": missing}


def by_event_time(facts: Iterable[CustomerFact]) -> list[CustomerFact]:
    """Event-time order; ties keep recording order (the store's position)."""
    return sorted(facts, key=event_order)


def fold_customer(
    customer_id: str,
    facts: Sequence[CustomerFact],
    as_of: datetime,
    policies: Policies = Policies(),
) -> Customer360:
    """The 360 view of ``customer_id`` from its facts (and its duplicates'), as of ``as_of``."""
    fold = CustomerFold(customer_id, policies)
    for fact in by_event_time(f for f in facts if f.occurred_at <= as_of):
        fold.add(fact)
    return fold.view(as_of)


def event_order(fact: CustomerFact) -> tuple[datetime, datetime, str]:
    """The key of ``by_event_time``."""
    return fact.occurred_at, fact.timestamp, fact.event_id


class CustomerFold:
    """A customer's facts folded so far, fed in event-time order; ``view`` as of a moment.

    ``fold_customer`` feeds it a whole history. A projection may keep one and
    feed it only what came after (``last_key``): a customer's events mostly
    arrive in order, and a busy customer's history is then not folded again
    for every new event.
    """

    def __init__(self, customer_id: str, policies: Policies = Policies()) -> None:
        self.customer_id = customer_id
        self.policies = policies
        self.last_key: tuple[datetime, datetime, str] | None = None
        self.profile: dict[str, Any] = {}
        self.status = "active"
        self.owner: dict[str, Any] | None = None
        self.acquisition: str | None = None
        self.consents: dict[str, bool] = {}
        self._member_consents: dict[str, dict[str, bool]] = {}  # channel -> member -> granted
        self.merged = False  # a merge was folded: later consent choices are the group's
        self.orders: dict[str, _Order] = {}
        self.complaints: dict[str, Complaint] = {}
        self.complaint_subjects: dict[str, ComplaintSubject] = {}  # complaint id -> about
        self.products = ProductBook()
        self.social = SocialIdentities()
        self.profile_history = ProfileHistory()
        self.contacts_by_channel: Counter[str] = Counter()
        self.last_contact: CustomerFact | None = None
        self.outbound: list[datetime] = []
        self.engagements: list[datetime] = []
        self.nps: list[int] = []
        self.csat: list[int] = []
        self.alerts: list[Alert] = []
        self.count = 0
        self.last_time: datetime | None = None
        self.standings = Standings(policies.sla.targeting)  # what SLA targets read of members

    def add(self, fact: CustomerFact) -> None:
        """Fold one more fact; it must not sort before any fact folded already."""
        self.last_key = event_order(fact)
        kind, data, at = fact.event_type, fact.data, fact.occurred_at
        if kind in IDENTITY_TYPES:
            self.merged = self.merged or kind == "crm.account.merged"
            return
        self.count += 1
        self.last_time = at
        self.standings.note(fact.customer_id, fact)
        if kind in ACCOUNT_CHANGES:
            self.profile_history.add(kind, data, at)
        if kind == "crm.account.opened":
            self.profile.update({k: data[k] for k in PROFILE_FIELDS if data.get(k) is not None})
            self.acquisition = data.get("acquisition_channel", self.acquisition)
        elif kind == "crm.account.updated":
            for name, value in data.get("changes", {}).items():
                if value is None:
                    self.profile.pop(name, None)
                else:
                    self.profile[name] = value
        elif kind == "crm.account.consent_changed":
            members = self._member_consents.setdefault(data["channel"], {})
            if self.merged:
                members.clear()
            members[fact.customer_id] = bool(data["granted"])
            self.consents[data["channel"]] = all(members.values())
        elif kind == "crm.account.owner_assigned":
            self.owner = {"id": data["owner_id"], "name": data.get("owner_name"), "since": at}
        elif kind == "crm.account.closed":
            self.status = "closed"
        elif kind == "crm.contact.logged":
            self.contacts_by_channel[data["channel"]] += 1
            self.last_contact = fact
            self.social.add(data, at)
            if data["direction"] == "inbound":
                self.engagements.append(at)
            else:
                self.outbound.append(at)
                self.alerts += _outbound_alerts(self.customer_id, fact, self.outbound,
                                                self.consents, self.policies.fatigue)
        elif kind == "crm.survey.answered":
            self.engagements.append(at)
            if data.get("nps") is not None:
                self.nps.append(data["nps"])
            if data.get("csat") is not None:
                self.csat.append(data["csat"])
        elif kind == "crm.order.placed":
            placed = _Order(data["order_id"], at, Decimal(data["amount"]), data["currency"],
                            lines=order_lines(data.get("items")))
            if placed.order_id in self.orders:  # placed again: the new one stands
                self.products.count(self.orders[placed.order_id], -1)
            self.orders[placed.order_id] = placed
            self.products.named(placed)
            self.products.count(placed, +1)
        elif kind == "crm.order.cancelled" and data["order_id"] in self.orders:
            cancelled = self.orders[data["order_id"]]
            self.products.count(cancelled, -1)
            cancelled.cancelled = True
        elif kind == "crm.order.refunded" and data["order_id"] in self.orders:
            refunded = self.orders[data["order_id"]]
            self.products.count(refunded, -1)
            refunded.refunded += Decimal(data["amount"])
            self.products.count(refunded, +1)
        elif kind.startswith("crm.complaint."):
            record_complaint_fact(self.complaints, fact, self.policies.sla,
                                  self.standings.of(fact.customer_id))
            if kind == "crm.complaint.opened":
                self._note_subject(data)

    def _note_subject(self, data: dict[str, Any]) -> None:
        """Remember what an opened complaint is about (an opening of the same id again replaces it)."""
        subject = complaint_subject(data)
        if subject is None:
            self.complaint_subjects.pop(data["complaint_id"], None)
        else:
            self.complaint_subjects[data["complaint_id"]] = subject

    def view(self, as_of: datetime) -> Customer360:
        """The 360 as of ``as_of`` (not before the last fact folded); changes nothing."""
        breaches = [b for c in self.complaints.values() for b in c.breaches(as_of)]
        net_orders = [o for o in self.orders.values() if not o.cancelled]
        loyalty = loyalty_score(
            LoyaltyInputs(
                orders=[NetOrder(o.placed_at, o.net, o.currency) for o in net_orders],
                engagements=self.engagements,
                open_complaints=sum(1 for c in self.complaints.values() if c.is_open),
                breaches=[b.at for b in breaches],
            ),
            as_of,
            self.policies.loyalty,
        )
        window_start = as_of - self.policies.fatigue.window
        recent_outbound = sum(1 for t in self.outbound if t > window_start)
        open_breaches = [b for b in breaches if self.complaints[b.complaint_id].is_open]
        return Customer360(
            completeness=completeness(self.profile, self.consents, self.owner),
            customer_id=self.customer_id,
            as_of=as_of,
            profile=dict(self.profile),
            status=self.status,
            owner=self.owner,
            acquisition_channel=self.acquisition,
            consents=dict(self.consents),
            orders=_purchase_pattern(net_orders),
            complaints=_complaint_summary(self.complaints, breaches, self.complaint_subjects),
            products=self.products.products(self.orders, self.complaints,
                                            self.complaint_subjects),
            social_identities=self.social.listed(),
            profile_history=self.profile_history.listed(),
            contacts={
                "total": sum(self.contacts_by_channel.values()),
                "by_channel": dict(sorted(self.contacts_by_channel.items())),
                "last_time": self.last_contact.occurred_at if self.last_contact else None,
                "last_channel": self.last_contact.data["channel"] if self.last_contact else None,
                "outbound_last_7_days": recent_outbound,
            },
            satisfaction={
                "nps_last": self.nps[-1] if self.nps else None,
                "nps_average": _mean(self.nps),
                "csat_last": self.csat[-1] if self.csat else None,
                "csat_average": _mean(self.csat),
            },
            loyalty=loyalty,
            flags={
                "contact_fatigue": recent_outbound > self.policies.fatigue.max_outbound,
                "open_sla_breach": bool(open_breaches),
                "outbound_without_consent": any(
                    a.kind == "outbound_without_consent" for a in self.alerts),
            },
            alerts=list(self.alerts),
            last_event_time=self.last_time,
            event_count=self.count,
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
    # ``outbound`` grows in event-time order: count the window by bisection, not a scan
    # (a busy customer's thousands of contacts made every new one cost them all).
    in_window = len(outbound) - bisect_right(outbound, at - fatigue.window)
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
        # days with an order (a purchase-history model counts days, not orders)
        "order_days": len({o.placed_at.timestamp() // 86_400 for o in orders}),
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


def _complaint_summary(complaints: dict[str, Complaint], breaches: list[Verdict],
                       subjects: dict[str, ComplaintSubject]) -> dict[str, Any]:
    last = max(complaints.values(), key=lambda c: c.opened_at, default=None)
    return {
        "open": sum(1 for c in complaints.values() if c.is_open),
        "total": len(complaints),
        "sla_breaches": len(breaches),
        # with the order and product it is about (null when it names none)
        "last": None if last is None else complaint_entry(last, subjects.get(last.complaint_id)),
    }


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
