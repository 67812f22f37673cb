"""The 360's products and past issues, social identities and profile history, and the
timeline's refund currencies and complaint-order links (issue 18), against real stores:
the sample's figures equal plain loops over its facts."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.facts import ReportedFact
from generators import loadgen, sample
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk, ServiceUnderTest, wait_until
from tests.integration.test_erasure import api_answers, every_table, holding

pytestmark = pytest.mark.integration

PRIORITIES = ["low", "normal", "high", "urgent"]


def sample_facts(customers: int) -> list[ReportedFact]:
    """The sample as the consumer records it (validated: every field, null when absent)."""
    return [loadgen.as_fact(json.loads(e.value))
            for e in sample.sample_events(customers, poison=0, now=NOW)]


def fact(event_type: str, customer: str, hours_ago: float, **data: Any) -> ReportedFact:
    return loadgen.as_fact(cloud_event(event_type, customer, at=NOW - timedelta(hours=hours_ago),
                                       data=data))


# --- plain loops --------------------------------------------------------------------------

def expected_products(facts: list[ReportedFact]) -> list[dict[str, Any]]:
    """Products and complaints per product, the long way round."""
    orders: dict[str, dict[str, Any]] = {}
    complaints: dict[str, dict[str, Any]] = {}
    for f in sorted(facts, key=lambda f: f.occurred_at):
        d, kind = f.data, f.event_type
        if kind == "crm.order.placed":
            orders[d["order_id"]] = {"at": f.occurred_at, "currency": d["currency"],
                                     "items": d["items"], "cancelled": False,
                                     "refunded": Decimal(0)}
        elif kind == "crm.order.cancelled" and d["order_id"] in orders:
            orders[d["order_id"]]["cancelled"] = True
        elif kind == "crm.order.refunded" and d["order_id"] in orders:
            orders[d["order_id"]]["refunded"] += Decimal(d["amount"])
        elif kind == "crm.complaint.opened":
            complaints[d["complaint_id"]] = {
                "complaint_id": d["complaint_id"], "opened_at": f.occurred_at, "status": "open",
                "category": d.get("category"), "priority": d["priority"],
                "order_id": d.get("order_id"), "sku": d.get("sku")}
        elif kind == "crm.complaint.resolved" and d["complaint_id"] in complaints:
            complaints[d["complaint_id"]]["status"] = "resolved"
        elif kind == "crm.complaint.escalated" and d["complaint_id"] in complaints:
            c = complaints[d["complaint_id"]]
            if d.get("priority") and PRIORITIES.index(d["priority"]) > PRIORITIES.index(c["priority"]):
                c["priority"] = d["priority"]
    products: dict[str, dict[str, Any]] = {}
    for order in sorted(orders.values(), key=lambda o: o["at"]):
        total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in order["items"])
        for i in order["items"]:
            p = products.setdefault(i["sku"], {"sku": i["sku"], "name": None, "count": 0,
                                               "orders": set(), "last_time": None,
                                               "net_spend": defaultdict(Decimal), "complaints": []})
            p["name"] = i["name"]
            if not order["cancelled"]:
                p["count"] += i["quantity"]
                p["orders"].add(id(order))
                p["last_time"] = order["at"]
                value = Decimal(i["unit_price"]) * i["quantity"]
                p["net_spend"][order["currency"]] += value * max(total - order["refunded"], 0) / total
    for c in complaints.values():
        skus = [c["sku"]] if c["sku"] else sorted(
            {i["sku"] for i in orders[c["order_id"]]["items"]} if c["order_id"] in orders else [])
        for sku in skus:
            products.setdefault(sku, {"sku": sku, "name": None, "count": 0, "orders": set(),
                                      "last_time": None, "net_spend": {}, "complaints": []}
                                )["complaints"].append(c)
    listed = []
    for p in products.values():
        if p["orders"] or p["complaints"]:
            listed.append({**p, "orders": len(p["orders"]),
                           "net_spend": {k: str(v.quantize(Decimal("0.01")))
                                         for k, v in sorted(p["net_spend"].items())},
                           "complaints": sorted(p["complaints"], key=lambda c: c["opened_at"],
                                                reverse=True)})
    bought = sorted((p for p in listed if p["last_time"]), key=lambda p: p["sku"])
    bought.sort(key=lambda p: p["last_time"], reverse=True)
    return bought + sorted((p for p in listed if not p["last_time"]), key=lambda p: p["sku"])


def expected_identities(facts: list[ReportedFact]) -> list[dict[str, Any]]:
    seen: dict[tuple, dict[str, Any]] = {}
    for f in sorted(facts, key=lambda f: f.occurred_at):
        d = f.data
        if f.event_type == "crm.contact.logged" and d["channel"] == "social" and d.get("handle"):
            row = seen.setdefault((d["platform"], d["handle"]), {
                "platform": d["platform"], "handle": d["handle"], "first_seen": f.occurred_at,
                "contacts": 0})
            row["last_seen"] = f.occurred_at
            row["contacts"] += 1
    return sorted(seen.values(), key=lambda r: (r["last_seen"], r["platform"], r["handle"]),
                  reverse=True)


def times(value: Any) -> Any:
    """Documents hold RFC 3339 text: read back as datetimes to compare with facts."""
    if isinstance(value, dict):
        return {k: times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [times(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value)
    return value


def documents(desk: Desk) -> dict[str, dict[str, Any]]:
    """Every customer's stored 360 document."""
    with desk.views.read() as db:
        rows = desk.catalog.live("customer360").rows_after(db, None, 100_000, merged=False)
    return {row["customer_id"]: json.loads(row["document"]) for row in rows}


def check_against_plain_loops(facts: list[ReportedFact], document_of) -> tuple[int, int]:  # noqa: ANN001
    """Every customer's products and identities against the loops; how many customers have
    complaints about a product, and social identities (so a test sees the sample used both)."""
    by_customer: dict[str, list[ReportedFact]] = defaultdict(list)
    for f in facts:
        by_customer[f.customer_id].append(f)
    about_products = identities = 0
    for customer, own in by_customer.items():
        document = document_of(customer)
        assert times(document["products"]) == expected_products(own), customer
        assert times(document["social_identities"]) == expected_identities(own), customer
        about_products += any(p["complaints"] for p in document["products"])
        identities += bool(document["social_identities"])
    return about_products, identities


# --- tests ----------------------------------------------------------------------------

def test_products_and_social_identities_of_the_sample_equal_plain_loops(desk: Desk) -> None:
    facts = sample_facts(150)
    desk.record(*facts)
    stored = documents(desk)
    about_products, identities = check_against_plain_loops(facts, stored.__getitem__)
    assert about_products >= 5 and identities >= 20
    some = sorted(stored)[:10]  # and the API's fold (as of now) says the same
    answers = {c: desk.client.get(f"/customers/{c}").json() for c in some}
    for c in some:
        assert answers[c]["products"] == stored[c]["products"]
        assert answers[c]["social_identities"] == stored[c]["social_identities"]


def test_the_sample_through_kafka_into_postgresql_gives_the_same_products(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    events = sample.sample_events(60, poison=0, now=NOW)
    for event in events:
        service.publish(service.settings.topic_for(json.loads(event.value)["type"]), event.value,
                        key=event.key)
    service.flush()
    service.start("consume")
    service.start("project")
    client = service.api()
    facts = [loadgen.as_fact(json.loads(e.value)) for e in events]
    counts = defaultdict(int)
    for f in facts:
        counts[f.customer_id] += 1

    def projected() -> bool:
        return all(client.get(f"/customers/{c}").json().get("event_count") == n
                   for c, n in counts.items())

    wait_until(projected, timeout=120, what="every sample customer projected")
    about_products, identities = check_against_plain_loops(
        facts, lambda c: client.get(f"/customers/{c}").json())
    assert about_products >= 2 and identities >= 5


def test_profile_history_and_timeline_say_who_changed_the_profile(desk: Desk) -> None:
    desk.record(
        fact("crm.account.opened", "C-1", 10, name="Ada Lovelace"),
        fact("crm.account.updated", "C-1", 9, changes={"phone": "+49 30 1234567"},
             actor={"kind": "customer"}),
        fact("crm.account.updated", "C-1", 8, changes={"email": "ada@example.com"},
             actor={"kind": "agent", "id": "A-007"}),
        fact("crm.account.consent_changed", "C-1", 7, channel="sms", granted=True,
             actor={"kind": "system", "id": "import-job"}),
        fact("crm.account.updated", "C-1", 6, changes={"language": "en"}),
    )
    history = desk.client.get("/customers/C-1").json()["profile_history"]
    assert [(h["fields"], h["actor"], h["by"]) for h in history] == [
        (["language"], None, None),
        (["consents.sms"], {"kind": "system", "id": "import-job"}, "by system import-job"),
        (["email"], {"kind": "agent", "id": "A-007"}, "by agent A-007"),
        (["phone"], {"kind": "customer", "id": None}, "by the customer (self-service)"),
    ]
    summaries = [e["summary"] for e in desk.page("C-1", type="crm.account")["entries"]]
    assert summaries == ["Profile updated: language", "Consent for sms granted by system import-job",
                         "Profile updated by agent A-007: email",
                         "Profile updated by the customer (self-service): phone",
                         "Account opened for Ada Lovelace"]
    with desk.views.read() as db:  # the stored row says it too
        (row,) = desk.catalog.live("customer360").rows_of(db, ["C-1"])
    assert json.loads(row["document"])["profile_history"][2]["by"] == "by agent A-007"


def test_a_refund_without_a_currency_shows_the_orders_and_never_none(desk: Desk) -> None:
    desk.record(fact("crm.account.opened", "C-1", 50, name="Ada"),
                fact("crm.order.placed", "C-1", 40, order_id="O-1", amount="99.00",
                     currency="SEK"),
                fact("crm.order.placed", "C-2", 40, order_id="O-1", amount="99.00",
                     currency="GBP"))  # another customer's order of the same id
    desk.record(fact("crm.order.refunded", "C-1", 30, order_id="O-1", amount="55.4"))  # later batch
    desk.record(fact("crm.order.placed", "C-1", 20, order_id="O-2", amount="10.00", currency="USD"),
                fact("crm.order.refunded", "C-1", 19, order_id="O-2", amount="5"),  # same batch
                fact("crm.order.refunded", "C-1", 18, order_id="O-3", amount="5"),  # unknown order
                fact("crm.order.refunded", "C-1", 17, order_id="O-2", amount="1", currency="EUR"))
    expected = ["Order O-2 refunded: 1.00 EUR", "Order O-3 refunded: 5.00",
                "Order O-2 refunded: 5.00 USD", "Order O-1 refunded: 55.40 SEK"]

    def refunds() -> list[str]:
        return [e["summary"] for e in desk.page("C-1", type="crm.order.refunded")["entries"]]

    assert refunds() == expected
    desk.record(fact("crm.account.erasure_requested", "C-1", 1))  # summaries made again
    assert refunds() == expected
    assert not any("None" in e["summary"] for e in desk.page("C-1", limit=100)["entries"])


def test_the_timeline_links_complaints_and_their_orders_both_ways(desk: Desk) -> None:
    desk.record(
        fact("crm.order.placed", "C-1", 30, order_id="O-1", amount="20.00", currency="EUR",
             items=[{"sku": "G-1", "name": "Grinder", "quantity": 1, "unit_price": "20.00"}]),
        fact("crm.order.placed", "C-1", 29, order_id="O-2", amount="5.00", currency="EUR"),
        fact("crm.complaint.opened", "C-1", 20, complaint_id="K-1", priority="high",
             order_id="O-1"),
        fact("crm.complaint.opened", "C-1", 19, complaint_id="K-2", priority="low", sku="G-1"),
    )
    desk.record(fact("crm.complaint.responded", "C-1", 10, complaint_id="K-1"),
                fact("crm.order.refunded", "C-1", 9, order_id="O-1", amount="20.00"),
                fact("crm.complaint.opened", "C-1", 8, complaint_id="K-3", priority="low",
                     order_id="O-1"))
    links = {(e["type"], e["data"].get("complaint_id") or e["data"].get("order_id")): e["links"]
             for e in desk.page("C-1", limit=100)["entries"]
             if not e["type"].startswith("crm.sla.")}  # SLA alerts in their place: no links
    about_o1 = [{"rel": "complaint", "complaint_id": "K-1"},
                {"rel": "complaint", "complaint_id": "K-3"}]
    assert links == {
        ("crm.order.placed", "O-1"): about_o1,
        ("crm.order.refunded", "O-1"): about_o1,
        ("crm.order.placed", "O-2"): [],
        ("crm.complaint.opened", "K-1"): [{"rel": "order", "order_id": "O-1"}],
        ("crm.complaint.responded", "K-1"): [{"rel": "order", "order_id": "O-1"}],
        ("crm.complaint.opened", "K-2"): [],  # about a product, not an order
        ("crm.complaint.opened", "K-3"): [{"rel": "order", "order_id": "O-1"}],
    }
    # as of before K-3 was opened, the order does not link to it yet
    earlier = desk.page("C-1", as_of=(NOW - timedelta(hours=15)).isoformat(),
                        type="crm.order.placed")["entries"]
    assert [e["links"] for e in earlier if e["data"]["order_id"] == "O-1"] == [about_o1[:1]]
    k1 = desk.client.get("/customers/C-1").json()["products"][0]["complaints"]
    assert [(c["complaint_id"], c["order_id"], c["sku"]) for c in k1] == [
        ("K-3", "O-1", None), ("K-2", None, "G-1"), ("K-1", "O-1", None)]


HANDLE = "@qz_wunder_4471"


def test_social_identities_are_listed_and_erased_with_the_customer(desk: Desk) -> None:
    desk.record(
        fact("crm.account.opened", "C-1", 50, name="Ottilie Wunderlich"),
        fact("crm.contact.logged", "C-1", 40, channel="social", direction="inbound",
             platform="instagram", handle=HANDLE),
        fact("crm.contact.logged", "C-1", 30, channel="social", direction="outbound",
             platform="instagram", handle=HANDLE),
        fact("crm.contact.logged", "C-1", 20, channel="social", direction="inbound",
             platform="x", handle="@otti_w"),
    )
    listed = desk.client.get("/customers/C-1").json()["social_identities"]
    assert [(i["platform"], i["handle"], i["contacts"]) for i in listed] == [
        ("x", "@otti_w", 1), ("instagram", HANDLE, 2)]
    assert holding(every_table(desk.views), [HANDLE])  # the scan would see it

    desk.record(fact("crm.account.erasure_requested", "C-1", 1))
    after = desk.client.get("/customers/C-1").json()["social_identities"]
    assert [(i["platform"], i["handle"], i["contacts"]) for i in after] == [
        ("x", None, 1), ("instagram", None, 2)]  # counts stay, names there go
    assert holding(every_table(desk.views), [HANDLE, "@otti_w"]) == []
    assert holding(api_answers(desk.client, ["C-1"], ["qz_wunder"]), [HANDLE, "@otti_w"]) == []
