"""A realistic sample of CRM history, published through Kafka like upstream systems do.

Each customer gets an account, consents, an owner, orders (some cancelled or
refunded), contacts on every channel, complaints with their lifecycle and
surveys, spread over the last two years. Event ids derive from the seed, so
publishing the same sample twice stores nothing new: the demo is idempotent.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.registry import default_topic

FIRST = ["Anna", "Ben", "Chloe", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
         "Katja", "Liam", "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Schmidt", "Novak", "Garcia", "Okafor", "Jensen", "Rossi", "Dubois", "Kowalski",
        "Yilmaz", "Andersson", "Murphy", "Silva", "Weber", "Horvat", "Lindqvist", "Costa"]
COUNTRIES = {"DE": "EUR", "FR": "EUR", "IT": "EUR", "GB": "GBP", "US": "USD", "SE": "SEK"}
LANGUAGES = {"DE": "de", "FR": "fr", "IT": "it", "GB": "en", "US": "en", "SE": "sv"}
CATALOG = [("SKU-100", "Espresso machine", "249.00"), ("SKU-101", "Coffee beans 1kg", "18.90"),
           ("SKU-102", "Milk frother", "59.00"), ("SKU-103", "Descaler", "9.50"),
           ("SKU-104", "Grinder", "129.00"), ("SKU-105", "Travel mug", "14.90")]
CONTACT_CHANNELS = ["phone", "email", "visit", "chat", "sms", "social", "video", "letter"]
CONTACT_SUBJECTS = ["delivery date", "invoice question", "product advice", "warranty",
                    "address change", "loyalty offer", "follow-up call"]
COMPLAINT_CATEGORIES = ["delivery", "billing", "product_quality", "service"]
SOCIAL_PLATFORMS = ["instagram", "x", "facebook", "linkedin", "tiktok"]
#: Who changes a profile, in turn by customer number (the last: the source does not say).
ACTORS = [{"kind": "customer", "id": None}, {"kind": "agent", "id": "A-007"},
          {"kind": "system", "id": "import-job"}, None]


@dataclass(frozen=True)
class SampleEvent:
    topic: str
    key: str
    value: bytes


class _Customer:
    def __init__(self, rng: random.Random, index: int, now: datetime, namespace: uuid.UUID):
        self.rng, self.now, self.namespace = rng, now, namespace
        self.id = f"C-{10000 + index}"
        self.country = rng.choice(list(COUNTRIES))
        self.currency = COUNTRIES[self.country]
        self.counter = 0
        self.events: list[tuple[datetime, str, dict[str, Any]]] = []

    def add(self, at: datetime, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((min(at, self.now - timedelta(minutes=1)), event_type, data))

    def cloud_events(self, source_of: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
        for at, event_type, data in sorted(self.events, key=lambda e: e[0]):
            self.counter += 1
            yield event_type, {
                "specversion": "1.0",
                "id": str(uuid.uuid5(self.namespace, f"{self.id}/{self.counter}")),
                "source": source_of[event_type.split(".")[1]],
                "type": event_type,
                "subject": self.id,
                "time": at.isoformat(timespec="seconds"),
                "datacontenttype": "application/json",
                "data": data,
            }


def random_contact(rng: random.Random) -> dict[str, Any]:
    """The payload of a plausible contact (one in three outbound)."""
    return {
        "channel": rng.choice(CONTACT_CHANNELS),
        "direction": rng.choice(["inbound", "inbound", "outbound"]),
        "agent_id": f"A-{rng.randint(1, 12):03d}",
        "subject": rng.choice(CONTACT_SUBJECTS),
        "outcome": rng.choice(["resolved", "follow_up", "no_answer", "sale", "other"]),
        "duration_seconds": rng.randint(30, 1500),
    }


def social_identity(contact: dict[str, Any], number: int, first: str, last: str) -> dict[str, Any]:
    """Three in four social contacts name the platform and the customer's handle there,
    chosen by customer number (no draw: the rest of the sample stays as it was)."""
    if contact["channel"] != "social" or number % 4 == 3:
        return contact
    return {**contact, "platform": SOCIAL_PLATFORMS[number % len(SOCIAL_PLATFORMS)],
            "handle": f"@{first.lower()}_{last.lower()}_{number}"}


def complaint_about(c: _Customer, at: datetime, number: int) -> dict[str, Any]:
    """What a complaint is about, by customer number: the last order placed before it (a
    third), that order's first product (a third), or nothing said (no draw either)."""
    placed = [(when, data) for when, kind, data in c.events
              if kind == "crm.order.placed" and when < at]
    if not placed or number % 3 == 2:
        return {}
    order = max(placed, key=lambda p: p[0])[1]
    return {"order_id": order["order_id"]} if number % 3 == 0 else {"sku": order["items"][0]["sku"]}


def _history(c: _Customer) -> None:
    rng = c.rng
    number = int(c.id[2:])
    opened = c.now - timedelta(days=rng.uniform(30, 730))
    first, last = rng.choice(FIRST), rng.choice(LAST)
    c.add(opened, "crm.account.opened", {
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{c.id[2:]}@example.com".lower(),
        "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
        "country": c.country,
        "segment": rng.choice(["consumer", "consumer", "business", "vip"]),
        "language": LANGUAGES[c.country],
        "acquisition_channel": rng.choice(["search", "social", "referral", "partner", "store"]),
    })
    for channel in ("email", "sms", "phone", "post"):
        c.add(opened + timedelta(minutes=1), "crm.account.consent_changed",
              {"channel": channel, "granted": rng.random() < 0.7})
    if rng.random() < 0.6:
        agent = rng.randint(1, 12)
        c.add(opened + timedelta(days=1), "crm.account.owner_assigned",
              {"owner_id": f"A-{agent:03d}", "owner_name": f"Agent {FIRST[agent]}"})
    days = (c.now - opened).days
    for n in range(rng.choice([0, 1, 2, 3, 5, 8, 12])):
        at = opened + timedelta(days=rng.uniform(0, days), hours=rng.uniform(0, 12))
        order_id = f"O-{c.id[2:]}-{n + 1}"
        items = [{"sku": sku, "name": name, "quantity": rng.randint(1, 3), "unit_price": price}
                 for sku, name, price in rng.sample(CATALOG, rng.randint(1, 3))]
        amount = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
        c.add(at, "crm.order.placed", {"order_id": order_id, "amount": f"{amount:.2f}",
              "currency": c.currency, "items": items,
              "channel": rng.choice(["web", "web", "app", "store", "phone"])})
        roll = rng.random()
        if roll < 0.06:
            c.add(at + timedelta(hours=3), "crm.order.cancelled",
                  {"order_id": order_id, "reason": "customer changed their mind"})
        elif roll < 0.12:
            c.add(at + timedelta(days=9), "crm.order.refunded",
                  {"order_id": order_id, "amount": f"{amount / 2:.2f}", "currency": c.currency})
    for _ in range(rng.randint(1, 10)):
        at = opened + timedelta(days=rng.uniform(0, days))
        c.add(at, "crm.contact.logged", social_identity(random_contact(rng), number, first, last))
    if rng.random() < 0.25:
        at = opened + timedelta(days=rng.uniform(0, days))
        complaint = {"complaint_id": f"K-{c.id[2:]}"}
        c.add(at, "crm.complaint.opened", {**complaint,
              "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
              "category": rng.choice(COMPLAINT_CATEGORIES),
              "channel": rng.choice(["phone", "email", "chat"]),
              "summary": "Parcel arrived damaged, grinder does not start",
              **complaint_about(c, at, number)})
        if rng.random() < 0.8:
            c.add(at + timedelta(hours=rng.uniform(0.5, 30)), "crm.complaint.responded",
                  {**complaint, "agent_id": "A-001"})
        if rng.random() < 0.2:
            c.add(at + timedelta(hours=5), "crm.complaint.escalated",
                  {**complaint, "agent_id": "A-002", "priority": "urgent"})
        if rng.random() < 0.7:
            resolved = at + timedelta(hours=rng.uniform(2, 100))
            c.add(resolved, "crm.complaint.resolved",
                  {**complaint, "agent_id": "A-001", "resolution": "Replacement sent"})
            c.add(resolved + timedelta(days=1), "crm.survey.answered",
                  {"survey_id": f"S-{c.id[2:]}", "nps": rng.randint(0, 10),
                   "csat": rng.randint(1, 5), "comment": "Thanks for sorting it out"})
    if rng.random() < 0.15:
        c.add(opened + timedelta(days=days / 2), "crm.account.updated",
              {"changes": {"phone": f"+49 40 {rng.randint(1000000, 9999999)}"},
               **({"actor": ACTORS[number % 4]} if ACTORS[number % 4] else {})})
    if rng.random() < 0.02:
        c.add(c.now - timedelta(days=2), "crm.account.closed", {"reason": "moved abroad"})


SOURCES = {"account": "crm/web-shop", "contact": "crm/telephony", "order": "crm/web-shop",
           "complaint": "crm/ticketing", "survey": "crm/survey-tool"}


def sample_events(
    customers: int = 300,
    *,
    topic_of: Callable[[str], str] = default_topic,
    poison: int = 3,
    seed: int = 7,
    now: datetime | None = None,
) -> list[SampleEvent]:
    """The sample as Kafka messages, interleaved across customers like live traffic.

    ``topic_of`` names the topic of an event type (the deployment's, by default
    SPEC's). ``poison`` malformed messages are mixed in to show dead-lettering.
    """
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:crm-timeline:sample:{seed}")
    messages: list[SampleEvent] = []
    for index in range(customers):
        customer = _Customer(rng, index, now, namespace)
        _history(customer)
        for event_type, event in customer.cloud_events(SOURCES):
            messages.append(SampleEvent(
                topic_of(event_type), customer.id, json.dumps(event).encode()
            ))
    # Interleave customers, keeping each customer's own order (one key, one partition).
    rng.shuffle(messages)
    by_customer: dict[str, list[SampleEvent]] = {}
    for message in messages:
        by_customer.setdefault(message.key, []).append(message)
    for own in by_customer.values():
        own.sort(key=lambda m: json.loads(m.value)["time"])
    cursors = {key: iter(own) for key, own in by_customer.items()}
    ordered = [next(cursors[m.key]) for m in messages]
    for n in range(poison):
        ordered.insert(rng.randrange(len(ordered) + 1), SampleEvent(
            topic_of("crm.order.placed"), f"C-{10000 + n}", b'{"specversion": "1.0", "id": "broken'
        ))
    return ordered


def publish(events: list[SampleEvent], client: Mapping[str, Any], *, progress: bool = True) -> int:
    """Publish (idempotent producer, acks=all); return the count."""
    from tqdm import tqdm

    from messaging.sending import Sender

    sender = Sender(client, **{"client.id": "crm-timeline-sample", "linger.ms": 20})
    for event in tqdm(events, desc="publishing sample", unit="event", disable=not progress):
        sender.send(event.topic, event.value, key=event.key.encode())
    sender.flush(120)
    return len(events)
