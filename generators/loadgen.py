"""A realistic load: mixed CRM events for many customers, activity Zipf-skewed.

Unlike ``generators.sample`` (a finished history per customer, for the demo),
this is a stream as upstream systems produce it: each draw picks a customer
with probability proportional to ``1 / rank ** zipf`` (a few customers are
very busy, most are quiet) and that customer's next event. A customer's first
event is always ``crm.account.opened``; later ones are contacts, orders (some
cancelled or refunded), complaints following their lifecycle, surveys and
account changes, in time order. Event times rise with the stream, spread over
the last year, so every customer's events are in time order too.

``generate`` returns the events as Kafka messages (reusable without Kafka),
``reported_facts`` the same events as the customer history records them, and
``publish`` sends messages at a fixed rate (or as fast as possible) with
kafka-python, keyed by customer id, to the topic of each type.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from consumers.intake import reported_fact
from domain.facts import ReportedFact
from generators.sample import (
    ACTORS,
    CATALOG,
    COMPLAINT_CATEGORIES,
    COUNTRIES,
    FIRST,
    LANGUAGES,
    LAST,
    SOCIAL_PLATFORMS,
    SOURCES,
    random_contact,
)
from schemas.registry import default_topic
from schemas.validation import parse_event

#: How a customer's next event (after the account opening) is chosen: type and weight.
#: Types that need something first (a cancelled order needs an order) fall back to a contact.
MIX: tuple[tuple[str, int], ...] = (
    ("crm.contact.logged", 36),
    ("crm.order.placed", 18),
    ("complaint-next", 12),  # the next step of an open complaint's lifecycle
    ("crm.account.consent_changed", 6),
    ("crm.survey.answered", 6),
    ("crm.complaint.opened", 5),
    ("crm.account.owner_assigned", 3),
    ("crm.account.updated", 3),
    ("crm.order.cancelled", 2),
    ("crm.order.refunded", 2),
)

#: The lifecycle of a complaint: from its last step, the possible next ones and weights.
LIFECYCLE: dict[str, tuple[tuple[str, int], ...]] = {
    "opened": (("responded", 70), ("escalated", 15), ("paused", 15)),
    "responded": (("resolved", 70), ("escalated", 15), ("paused", 15)),
    "escalated": (("responded", 40), ("resolved", 60)),
    "paused": (("resumed", 100),),
    "resumed": (("responded", 30), ("resolved", 70)),
    "resolved": (("reopened", 15), ("closed", 85)),
    "reopened": (("responded", 50), ("resolved", 50)),
}


@dataclass(frozen=True)
class LoadEvent:
    """One Kafka message of the load: where it goes, its key (the customer) and bytes."""

    topic: str
    key: str
    value: bytes
    event_id: str
    event_type: str


@dataclass
class _Customer:
    id: str
    currency: str
    orders: list[tuple[str, Decimal]]
    complaint: tuple[str, str] | None = None  # (complaint id, its last step)
    complaints: int = 0
    surveys: int = 0
    leaves_at: datetime | None = None  # when it stops buying (``churn_mean_days``)
    placed: int = 0  # orders placed so far
    updates: int = 0  # profile updates so far


class LoadGenerator:
    """Builds events (CloudEvent dicts) customer by customer; deterministic for a seed."""

    def __init__(self, seed: int = 7, churn_mean_days: float | None = None) -> None:
        """``churn_mean_days``: each customer stops buying after a time drawn from an
        exponential of this mean from its opening (then its orders become contacts), the
        truth ``bench/churn.py`` meets; None (the default): nobody stops."""
        self.seed = seed
        self.rng = random.Random(seed)
        self.churn_mean_days = churn_mean_days
        self._churn_rng = random.Random(seed + 99)  # the other draws stay those of the seed
        self.customers: dict[str, _Customer] = {}
        self._counter = itertools.count(1)
        self._mix_types = [t for t, _ in MIX]
        self._mix_cum = list(itertools.accumulate(w for _, w in MIX))

    def event_id(self) -> str:
        return f"lg{self.seed}-{next(self._counter)}"

    def event(self, customer_id: str, at: datetime, event_type: str | None = None) -> dict[str, Any]:
        """The customer's next event at ``at``: its opening if new, else one of ``MIX``
        (or ``event_type`` if given and possible)."""
        customer = self.customers.get(customer_id)
        if customer is None:
            return self._opened(customer_id, at)
        if event_type is None:
            pick = self.rng.random() * self._mix_cum[-1]
            event_type = self._mix_types[bisect.bisect_right(self._mix_cum, pick)]
        if (event_type.startswith("crm.order.") and customer.leaves_at is not None
                and at >= customer.leaves_at):
            event_type = "crm.contact.logged"  # it has stopped buying
        event_type, data = self._data(customer, event_type)
        return self.envelope(customer_id, event_type, at, data)

    def envelope(self, customer_id: str, event_type: str, at: datetime,
                 data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": event_id or self.event_id(),
            "source": SOURCES[event_type.split(".")[1]],
            "type": event_type,
            "subject": customer_id,
            "time": at.isoformat(timespec="milliseconds"),
            "datacontenttype": "application/json",
            "data": data,
        }

    def contact(self) -> dict[str, Any]:
        return random_contact(self.rng)

    def _opened(self, customer_id: str, at: datetime) -> dict[str, Any]:
        rng = self.rng
        country = rng.choice(list(COUNTRIES))
        self.customers[customer_id] = _Customer(customer_id, COUNTRIES[country], [])
        if self.churn_mean_days is not None:
            self.customers[customer_id].leaves_at = at + timedelta(
                days=self._churn_rng.expovariate(1 / self.churn_mean_days))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        digits = "".join(ch for ch in customer_id if ch.isalnum()).lower()
        return self.envelope(customer_id, "crm.account.opened", at, {
            "name": f"{first} {last}",
            "email": f"{first}.{last}.{digits}@example.com".lower(),
            "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
            "country": country,
            "segment": rng.choice(["consumer", "consumer", "business", "vip"]),
            "language": LANGUAGES[country],
            "acquisition_channel": rng.choice(["search", "social", "referral", "partner", "store"]),
        })

    def _data(self, c: _Customer, event_type: str) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        if event_type == "crm.order.placed":
            c.placed += 1  # order ids stay unique, though only recent orders are remembered
            order_id = f"O-{c.id}-{c.placed}"
            items = [{"sku": sku, "name": name, "quantity": rng.randint(1, 3), "unit_price": price}
                     for sku, name, price in rng.sample(CATALOG, rng.randint(1, 3))]
            amount = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
            c.orders.append((order_id, amount))
            del c.orders[:-5]  # only recent orders get cancelled or refunded
            return event_type, {"order_id": order_id, "amount": f"{amount:.2f}",
                                "currency": c.currency, "items": items,
                                "channel": rng.choice(["web", "web", "app", "store", "phone"])}
        if event_type == "crm.order.cancelled" and c.orders:
            return event_type, {"order_id": c.orders.pop()[0],
                                "reason": "customer changed their mind"}
        if event_type == "crm.order.refunded" and c.orders:
            order_id, amount = c.orders[-1]
            return event_type, {"order_id": order_id, "amount": f"{amount / 2:.2f}",
                                "currency": c.currency}
        if event_type == "crm.complaint.opened" and c.complaint is None:
            c.complaints += 1
            c.complaint = (f"K-{c.id}-{c.complaints}", "opened")
            return event_type, {
                "complaint_id": c.complaint[0],
                "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                "category": rng.choice(COMPLAINT_CATEGORIES),
                "channel": rng.choice(["phone", "email", "chat"]),
                "summary": "Parcel arrived damaged, grinder does not start",
                # every third about the last order (by count, no draw: the stream stays)
                **({"order_id": c.orders[-1][0]} if c.orders and c.complaints % 3 == 0 else {}),
            }
        if event_type == "complaint-next" and c.complaint is not None:
            complaint, step = c.complaint
            steps = LIFECYCLE[step]
            step = rng.choices([s for s, _ in steps], [w for _, w in steps])[0]
            if step != "closed":
                c.complaint = (complaint, step)
                data: dict[str, Any] = {"complaint_id": complaint}
                if step in ("responded", "resolved", "reopened", "escalated"):
                    data["agent_id"] = f"A-{rng.randint(1, 12):03d}"
                if step == "escalated":
                    data["priority"] = "urgent"
                elif step == "resolved":
                    data["resolution"] = "Replacement sent"
                elif step == "paused":
                    data["reason"] = "waiting for photos"
                elif step == "reopened":
                    data["reason"] = "replacement also damaged"
                return f"crm.complaint.{step}", data
            c.complaint = None
            event_type = "crm.survey.answered"  # after a resolution: the satisfaction survey
        if event_type == "crm.survey.answered":
            c.surveys += 1
            return event_type, {"survey_id": f"S-{c.id}-{c.surveys}", "nps": rng.randint(0, 10),
                                "csat": rng.randint(1, 5), "comment": "Thanks for the quick help"}
        if event_type == "crm.account.consent_changed":
            return event_type, {"channel": rng.choice(["email", "sms", "phone", "post"]),
                                "granted": rng.random() < 0.7}
        if event_type == "crm.account.owner_assigned":
            agent = rng.randint(1, 12)
            return event_type, {"owner_id": f"A-{agent:03d}", "owner_name": f"Agent {FIRST[agent]}"}
        if event_type == "crm.account.updated":
            c.updates += 1
            actor = ACTORS[c.updates % len(ACTORS)]
            return event_type, {"changes": {"phone": f"+49 40 {rng.randint(1000000, 9999999)}"},
                                **({"actor": actor} if actor else {})}
        return "crm.contact.logged", _with_identity(self.contact(), c)


def _with_identity(contact: dict[str, Any], c: _Customer) -> dict[str, Any]:
    """A social contact names the platform and the customer's handle there (no draw)."""
    if contact["channel"] != "social":
        return contact
    number = sum(map(ord, c.id))
    return {**contact, "platform": SOCIAL_PLATFORMS[number % len(SOCIAL_PLATFORMS)],
            "handle": f"@{c.id.lower().replace('-', '_')}"}


def zipf_customers(customers: int, zipf: float, seed: int) -> tuple[list[str], list[float]]:
    """Customer ids (shuffled, so the busiest is not always the first) and the
    cumulative Zipf weights of their ranks."""
    ids = [f"C-{10000 + n}" for n in range(customers)]
    random.Random(seed).shuffle(ids)
    weights = [1.0 / (rank ** zipf) for rank in range(1, customers + 1)]
    return ids, list(itertools.accumulate(weights))


def cloud_events(
    events: int,
    *,
    customers: int = 10_000,
    zipf: float = 1.1,
    seed: int = 7,
    now: datetime | None = None,
    span: timedelta = timedelta(days=365),
) -> Iterator[dict[str, Any]]:
    """``events`` CloudEvents (dicts) in stream order, times rising over ``span`` up to now."""
    ids, cumulative = zipf_customers(customers, zipf, seed)
    draws = random.Random(seed + 1).choices(ids, cum_weights=cumulative, k=events)
    return events_of(draws, seed=seed, now=now, span=span)


def events_of(
    draws: Sequence[str],
    *,
    seed: int = 7,
    now: datetime | None = None,
    span: timedelta = timedelta(days=365),
    generator: LoadGenerator | None = None,
) -> Iterator[dict[str, Any]]:
    """One event per customer id in ``draws`` (that customer's next), in that order,
    times rising evenly over ``span`` up to now; from ``generator`` if given (to read its
    customers' truth after), else a new one of ``seed``."""
    generator = generator or LoadGenerator(seed)
    end = (now or datetime.now(UTC)) - timedelta(seconds=1)
    step = span / max(len(draws), 1)
    start = end - span
    for n, customer_id in enumerate(draws):
        yield generator.event(customer_id, start + step * n)


def message(event: dict[str, Any], topic_of: Callable[[str], str] = default_topic) -> LoadEvent:
    """A CloudEvent as the Kafka message upstream sends: its type's topic, keyed by customer."""
    return LoadEvent(topic_of(event["type"]), event["subject"],
                     json.dumps(event, separators=(",", ":")).encode(), event["id"], event["type"])


def messages(
    events: int,
    *,
    customers: int = 10_000,
    zipf: float = 1.1,
    duplicates: float = 0.0,
    seed: int = 7,
    topic_of: Callable[[str], str] = default_topic,
    now: datetime | None = None,
) -> Iterator[LoadEvent]:
    """``events`` Kafka messages, lazily; a share ``duplicates`` of them exact copies of
    the message just before (a producer's retry), so fewer distinct events than messages."""
    rng = random.Random(seed + 2)
    sent = 0
    for event in cloud_events(events, customers=customers, zipf=zipf, seed=seed, now=now):
        if sent >= events:
            return
        one = message(event, topic_of)
        yield one
        sent += 1
        if duplicates and sent < events and rng.random() < duplicates:
            yield one
            sent += 1


def generate(events: int, **kwargs: Any) -> list[LoadEvent]:
    """``messages`` as a list (what the benches publish and compare against)."""
    return list(messages(events, **kwargs))


def as_fact(event: dict[str, Any]) -> ReportedFact:
    """A CloudEvent as the customer history records it: validated, its data as the
    schema dumps it (every field), exactly what the consumer passes on."""
    return reported_fact(parse_event(event, now=datetime.now(UTC), max_future=timedelta(days=1)))


def reported_facts(events: int, **kwargs: Any) -> Iterator[ReportedFact]:
    """The same events as ``cloud_events`` as facts to record directly (no Kafka)."""
    return (as_fact(event) for event in cloud_events(events, **kwargs))


@dataclass(frozen=True)
class Published:
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def publish(
    events: Iterable[LoadEvent],
    client: Mapping[str, Any],
    *,
    total: int | None = None,
    rate: float = 0,
    on_sent: Callable[[LoadEvent, float], None] | None = None,
    progress: bool = False,
    linger_ms: int | None = None,
) -> Published:
    """Send ``events`` in order, ``rate`` per second (0: as fast as possible), and flush.

    Sends are scheduled on a timer (event n at start + n / rate), not paced by the
    previous send, so a slow moment is caught up instead of lowering the rate.
    ``on_sent(event, wall_time)`` is called just after each send. ``client``: how to
    connect (librdkafka's names, ``Settings.kafka_client()``).
    """
    from tqdm import tqdm

    from messaging.sending import Sender

    linger = linger_ms if linger_ms is not None else (5 if rate else 20)
    sender = Sender(client, **{"client.id": "crm-timeline-loadgen", "linger.ms": linger})
    if isinstance(events, Sequence):  # fetch metadata now, not during the first sends
        for topic in {event.topic for event in events}:
            sender.partitions(topic)
    started = time.perf_counter()
    if total is None and isinstance(events, Sized):
        total = len(events)
    bar = tqdm(total=total, desc="publishing", unit="event", disable=not progress)
    n = -1
    for n, event in enumerate(events):
        if rate:
            wait = started + n / rate - time.perf_counter()
            if wait > 0.001:
                time.sleep(wait)
        sender.send(event.topic, event.value, key=event.key.encode())
        if on_sent is not None:
            on_sent(event, time.time())
        if n % 1000 == 0:
            sender.poll()
            bar.update(n - bar.n)
    sender.flush(120)
    bar.update(n + 1 - bar.n)
    bar.close()
    return Published(n + 1, time.perf_counter() - started)


def fresh_seed() -> int:
    return uuid.uuid4().int % 1_000_000
