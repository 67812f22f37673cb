"""``GET /events``: the store in order, paged by position; personal fields for admins only,
and an erased customer's for no one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from generators.loadgen import as_fact
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def recorded(desk: Desk) -> None:
    def e(event_type: str, customer: str, hours: float, **data: Any) -> dict[str, Any]:
        return cloud_event(event_type, customer, at=NOW - timedelta(hours=50 - hours), data=data)

    desk.record(*[as_fact(event) for event in [
        e("crm.account.opened", "C-1", 0, name="Ada Lovelace", email="ada@example.org",
          country="GB"),
        e("crm.order.placed", "C-1", 1, order_id="O-1", amount="10.00", currency="EUR"),
        e("crm.account.opened", "C-2", 2, name="Erna Erased", email="erna@example.org"),
        e("crm.contact.logged", "C-2", 3, channel="phone", direction="inbound",
          subject="wants to be forgotten"),
        e("crm.account.erasure_requested", "C-2", 4, requested_by="ticket 9"),
        e("crm.order.placed", "C-1", 5, order_id="O-2", amount="20.00", currency="EUR"),
    ]])


def client(desk: Desk, role: str) -> TestClient:
    key = desk.client.app.state.keys.create(f"feed {role}", role)
    return TestClient(desk.client.app, headers={"X-API-Key": key})


def pages(reader: TestClient, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """Every entry, page by page of 2, and the ``next_after`` of each page."""
    found, cursors, after = [], [], 0
    while True:
        page = reader.get("/events", params={**params, "after": after, "limit": 2}).json()
        found += page["events"]
        cursors.append(page["next_after"])
        if page["next_after"] == after:
            return found, cursors
        after = page["next_after"]


def test_the_feed_pages_through_the_store_in_order(desk: Desk) -> None:
    recorded(desk)
    entries, cursors = pages(client(desk, "agent"))
    positions = [entry["position"] for entry in entries]
    assert positions == sorted(positions) and len(set(positions)) == 6
    assert cursors == [positions[1], positions[3], positions[5], positions[5]]
    assert [e["event"]["type"] for e in entries] == [
        "crm.account.opened", "crm.order.placed", "crm.account.opened", "crm.contact.logged",
        "crm.account.erasure_requested", "crm.order.placed"]
    first = entries[1]["event"]
    assert (first["specversion"], first["subject"], first["data"]["order_id"]) == ("1.0", "C-1", "O-1")
    last = client(desk, "agent").get("/events", params={"after": positions[-1]}).json()
    assert last["events"] == [] and last["next_after"] == last["store_position"] == positions[-1]


def test_a_type_or_family_filters_the_feed(desk: Desk) -> None:
    recorded(desk)
    reader = client(desk, "agent")
    orders, _ = pages(reader, type="crm.order")
    assert [e["event"]["data"]["order_id"] for e in orders] == ["O-1", "O-2"]
    exact, _ = pages(reader, type="crm.account.opened")
    assert [e["event"]["subject"] for e in exact] == ["C-1", "C-2"]
    nothing = reader.get("/events", params={"type": "crm.nothing", "after": 3}).json()
    assert nothing["events"] == [] and nothing["next_after"] == 3


def test_personal_fields_only_for_admins_and_never_an_erased_customers(desk: Desk) -> None:
    recorded(desk)
    agent = client(desk, "agent").get("/events").json()
    assert agent["personal_data"] is False
    opened = [e["event"]["data"] for e in agent["events"] if e["event"]["type"] == "crm.account.opened"]
    assert all("name" not in data and "email" not in data for data in opened)
    assert opened[0]["country"] == "GB"  # what is not personal stays
    assert "Ada" not in str(agent) and "forgotten" not in str(agent)

    admin = client(desk, "admin").get("/events").json()
    assert admin["personal_data"] is True
    by_customer = {e["event"]["subject"]: e["event"]["data"] for e in admin["events"]
                   if e["event"]["type"] == "crm.account.opened"}
    assert by_customer["C-1"]["name"] == "Ada Lovelace"
    assert by_customer["C-2"]["name"] is None and by_customer["C-2"]["email"] is None
    assert "Erna" not in str(admin) and "forgotten" not in str(admin)


def test_an_ingest_key_reads_no_feed(desk: Desk) -> None:
    refused = client(desk, "ingest").get("/events")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/forbidden"
