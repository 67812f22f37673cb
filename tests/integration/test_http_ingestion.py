"""POST /events: valid events travel through Kafka into the store; invalid ones get reasons;
hostile bodies are refused whole; merges, unmerges and erasure requests need a permission."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from tests.asyncapi import check_record
from tests.events import cloud_event, contact, hours_ago, order
from tests.integration.conftest import Desk, ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def test_posted_events_are_published_stored_and_invalid_ones_rejected_with_reasons(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    api = service.api().app
    client = TestClient(api, headers={"X-API-Key": api.state.keys.create("web-shop", "ingest")})
    negative = order("C-5", hours_ago(1), "O-bad", amount="-1.00", event_id="bad-1")
    answer = client.post("/events", json=[
        order("C-5", hours_ago(3), "O-1", event_id="http-1"),
        negative,
        contact("C-5", hours_ago(2), event_id="http-2"),
        cloud_event("crm.order.exploded", "C-5", event_id="bad-2"),
    ])
    assert answer.status_code == 202
    assert answer.json()["accepted"] == ["http-1", "http-2"]
    assert [(r["index"], r["id"]) for r in answer.json()["rejected"]] == [(1, "bad-1"), (3, "bad-2")]
    assert "data.amount" in answer.json()["rejected"][0]["reason"]
    single = client.post("/events", json=contact("C-5", hours_ago(1), event_id="http-3"))
    assert single.status_code == 202 and single.json()["accepted"] == ["http-3"]
    none_valid = client.post("/events", json=[negative])
    assert none_valid.status_code == 422 and none_valid.json()["accepted"] == []

    # Published in structured mode, declared so (content-type), as the AsyncAPI document says.
    document = TestClient(api).get("/asyncapi.json").json()
    consumer = KafkaConsumer(service.settings.topic_orders, service.settings.topic_contacts,
                             bootstrap_servers=service.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        records = list(consumer)
    finally:
        consumer.close()
    channels = {service.settings.topic_orders: "orders", service.settings.topic_contacts: "contacts"}
    assert sorted(check_record(document, channels[r.topic], r)["id"] for r in records) == [
        "http-1", "http-2", "http-3"]

    service.start("consume")
    wait_until(lambda: len(service.stored_event_ids()) == 3, what="the posted events stored")
    assert sorted(service.stored_event_ids()) == ["http-1", "http-2", "http-3"]


@pytest.fixture
def shop(desk: Desk) -> TestClient:
    """An ingest key without permissions, as an upstream web shop has."""
    api = desk.client.app
    return TestClient(api, headers={"X-API-Key": api.state.keys.create("web-shop", "ingest")})


def posted(client: TestClient, body: bytes) -> Any:
    return client.post("/events", content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"specversion": "1.0", "id": "nan-1", "data": {"duration_seconds": NaN}}', "NaN"),
    (b'[{"id": "inf-1", "data": {"nps": Infinity}}]', "Infinity"),
    (b'{"id": "inf-2", "data": {"nps": -Infinity}}', "-Infinity"),
    (b'{"id": "big-1", "data": {"nps": 1e999}}', "out of range"),
    (b'{"id": "a", "id": "b"}', "'id' appears twice"),
    (b'{"id": "x"', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"", "not valid JSON"),
    (b'"crm.order.placed"', "one CloudEvent (a JSON object) or a list"),
])
def test_json_no_two_parsers_read_alike_is_400_never_202(shop: TestClient, body: bytes, reason: str) -> None:
    answer = posted(shop, body)
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["detail"] and "request body" in answer.json()["detail"]


def test_a_nan_inside_a_valid_looking_event_is_not_accepted(shop: TestClient) -> None:
    event = contact("C-5", hours_ago(1), event_id="nan-2")
    text = json.dumps(event).replace('"duration_seconds": 120', '"duration_seconds": NaN')
    assert "NaN" in text
    answer = posted(shop, text.encode())
    assert answer.status_code == 400 and "NaN" in answer.json()["detail"]


def test_more_events_than_a_request_may_carry_is_413_and_nothing_is_published(
    desk: Desk, shop: TestClient,
) -> None:
    limit = desk.settings.api_max_events_per_request
    events = [contact("C-5", hours_ago(1), event_id=f"many-{n}") for n in range(limit + 1)]
    answer = shop.post("/events", json=events)
    assert answer.status_code == 413, answer.text
    assert f"at most {limit} events" in answer.json()["detail"]
    assert "CRM_API_MAX_EVENTS_PER_REQUEST" in answer.json()["detail"]
    assert "nothing was published" in answer.json()["detail"]


def test_a_body_that_is_not_json_is_415(shop: TestClient) -> None:
    answer = shop.post("/events", content=b"{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    cloudevents = shop.post("/events", content=b"[]",
                            headers={"Content-Type": "application/cloudevents-batch+json"})
    assert cloudevents.status_code == 422  # read as JSON: an empty list, nothing valid


MERGE = {"duplicate_customer_id": "C-6"}


def test_an_ingest_key_without_the_permission_cannot_merge_unmerge_or_erase(shop: TestClient) -> None:
    privileged = [
        cloud_event("crm.account.merged", "C-5", at=hours_ago(1), event_id="merge-1", data=MERGE),
        cloud_event("crm.account.unmerged", "C-5", at=hours_ago(1), event_id="unmerge-1", data=MERGE),
        cloud_event("crm.account.erasure_requested", "C-5", at=hours_ago(1), event_id="erase-1"),
    ]
    answer = shop.post("/events", json=privileged)
    assert answer.status_code == 403, answer.text
    assert answer.json()["accepted"] == []
    reasons = {r["id"]: r["reason"] for r in answer.json()["rejected"]}
    assert set(reasons) == {"merge-1", "unmerge-1", "erase-1"}
    assert "needs the permission 'crm.account.merged'" in reasons["merge-1"]
    assert "--role ingest --allow crm.account.erasure_requested" in reasons["erase-1"]
    assert "web-shop" in answer.json()["detail"]
    # Invalid and refused together: 422, each with its own reason.
    mixed = shop.post("/events", json=[privileged[0], {"specversion": "1.0"}])
    assert mixed.status_code == 422
    assert "permission" in mixed.json()["rejected"][0]["reason"]
    assert "missing attribute" in mixed.json()["rejected"][1]["reason"]


def test_keys_are_granted_privileged_types_explicitly_and_only_for_ingest(desk: Desk) -> None:
    keys = desk.client.app.state.keys
    with pytest.raises(ValueError, match="unknown permission 'crm.order.placed'"):
        keys.create("idm", "ingest", ["crm.order.placed"])
    with pytest.raises(ValueError, match="--allow needs --role ingest"):
        keys.create("idm", "admin", ["crm.account.merged"])
    key = keys.create("idm", "ingest", ["crm.account.merged", "crm.account.unmerged"])
    caller = keys.verify(key)
    assert caller.permissions == {"crm.account.merged", "crm.account.unmerged"}
    assert caller.refusal_to_publish("crm.account.merged") is None
    assert caller.refusal_to_publish("crm.order.placed") is None
    assert "crm.account.erasure_requested" in caller.refusal_to_publish("crm.account.erasure_requested")
    listed = {row["name"]: row["permissions"] for row in keys.list()}
    assert listed["idm"] == "crm.account.merged,crm.account.unmerged"


def test_an_identity_system_with_the_permission_merges_and_the_shop_is_refused(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    api = service.api().app
    shop = TestClient(api, headers={"X-API-Key": api.state.keys.create("web-shop", "ingest")})
    idm = TestClient(api, headers={"X-API-Key": api.state.keys.create(
        "identity", "ingest", ["crm.account.merged"])})
    merge = cloud_event("crm.account.merged", "C-5", at=hours_ago(1), event_id="merge-ok",
                        data=MERGE)
    order_5 = order("C-5", hours_ago(3), "O-5", event_id="order-5")
    refused = shop.post("/events", json=[order_5, {**merge, "id": "merge-shop"}])
    assert refused.status_code == 202 and refused.json()["accepted"] == ["order-5"]
    assert refused.json()["rejected"][0]["id"] == "merge-shop"
    assert idm.post("/events", json=merge).json()["accepted"] == ["merge-ok"]
    unmerge = cloud_event("crm.account.unmerged", "C-5", at=hours_ago(0.5), event_id="unmerge-idm",
                          data=MERGE)
    assert idm.post("/events", json=unmerge).status_code == 403  # merged only, as granted

    service.start("consume")
    wait_until(lambda: len(service.stored_event_ids()) == 2, what="the order and the merge stored")
    assert sorted(service.stored_event_ids()) == ["merge-ok", "order-5"]
