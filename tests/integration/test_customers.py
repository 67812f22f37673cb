"""Customer 360 through Kafka: merging duplicates and undoing it, on both store backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.events import NOW, cloud_event, contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

AS_OF = NOW.isoformat()
IDENTITY_FIELDS = {"customer_id", "merged_ids", "resolved_from"}


def history_of(customer: str, part: str, start_hours: float) -> list[dict[str, Any]]:
    """A small, varied history; ``part`` keeps event ids apart between customers."""
    h = start_hours
    return [
        cloud_event("crm.account.opened", customer, at=hours_ago(h), event_id=f"{customer}-{part}-1",
                    data={"name": f"Customer {part}", "email": f"{part}@example.com",
                          "country": "DE", "acquisition_channel": "search"}),
        order(customer, hours_ago(h - 1), f"O-{part}-1", amount="120.00", event_id=f"{customer}-{part}-2"),
        contact(customer, hours_ago(h - 2), event_id=f"{customer}-{part}-3"),
        cloud_event("crm.contact.logged", customer, at=hours_ago(h - 3), event_id=f"{customer}-{part}-4",
                    data={"channel": "email", "direction": "outbound"}),
        cloud_event("crm.complaint.opened", customer, at=hours_ago(h - 4), event_id=f"{customer}-{part}-5",
                    data={"complaint_id": f"K-{part}", "priority": "high", "category": "delivery"}),
    ]


def later_of(customer: str, part: str) -> list[dict[str, Any]]:
    return [order(customer, hours_ago(2), f"O-{part}-9", amount="80.00", event_id=f"{customer}-{part}-9")]


def publish_all(service: ServiceUnderTest, events: list[dict[str, Any]]) -> None:
    topics = {"account": service.settings.topic_accounts, "order": service.settings.topic_orders,
              "contact": service.settings.topic_contacts, "complaint": service.settings.topic_complaints}
    for event in events:
        service.publish(topics[event["type"].split(".")[1]], event, key=event["subject"])
    service.flush()


def settled(service: ServiceUnderTest, count: int) -> None:
    def done() -> bool:
        last = service.history.recorder.max_notification_id() or 0
        return len(service.stored_event_ids()) >= count and all(
            (service.views.position(name) or 0) >= last for name in ("timeline", "customer360"))
    wait_until(done, what=f"{count} events stored and projected")


def view(service: ServiceUnderTest, customer: str) -> dict[str, Any]:
    response = service.api().get(f"/customers/{customer}", params={"as_of": AS_OF})
    assert response.status_code == 200, response.text
    return response.json()


def activity(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in IDENTITY_FIELDS}


def test_merge_and_unmerge(service: ServiceUnderTest) -> None:
    a, b = history_of("C-A", "a", 100), history_of("C-B", "b", 90)
    # Reference customers: one who had everything, and each one alone.
    everything = history_of("C-X", "a", 100) + history_of("C-X", "b", 90) + later_of("C-X", "b")
    alone_a, alone_b = history_of("C-A2", "a", 100), history_of("C-B2", "b", 90) + later_of("C-B2", "b")
    merge = cloud_event("crm.account.merged", "C-A", at=hours_ago(50), event_id="merge-1",
                        data={"duplicate_customer_id": "C-B"})
    publish_all(service, a + b + [merge] + later_of("C-B", "b") + everything + alone_a + alone_b)
    service.start("consume")
    service.start("project")
    total = len(a + b + everything + alone_a + alone_b) + 2
    settled(service, total)

    survivor = view(service, "C-A")
    assert survivor["merged_ids"] == ["C-B"]
    assert activity(survivor) == activity(view(service, "C-X"))
    assert survivor["orders"]["count"] == 3  # both customers' orders and the one after the merge
    duplicate = view(service, "C-B")
    assert (duplicate["customer_id"], duplicate["resolved_from"]) == ("C-A", "C-B")
    client = service.api()
    timeline = client.get("/customers/C-B/timeline", params={"limit": 100}).json()
    assert timeline["customer_id"] == "C-A" and timeline["merged_ids"] == ["C-B"]
    assert len(timeline["entries"]) == len(a + b) + 2  # with the merge fact and the later order
    found = client.get("/customers", params={"q": "example.com"}).json()["customers"]
    assert "C-B" not in [c["customer_id"] for c in found] and "C-A" in [c["customer_id"] for c in found]

    unmerge = cloud_event("crm.account.unmerged", "C-A", at=hours_ago(1), event_id="unmerge-1",
                          data={"duplicate_customer_id": "C-B"})
    publish_all(service, [unmerge])
    settled(service, total + 1)
    assert activity(view(service, "C-A")) == activity(view(service, "C-A2"))
    assert activity(view(service, "C-B")) == activity(view(service, "C-B2"))
    assert view(service, "C-B")["customer_id"] == "C-B"
    timeline = client.get("/customers/C-B/timeline", params={"limit": 100}).json()
    assert (timeline["customer_id"], len(timeline["entries"])) == ("C-B", len(b) + 1)
