"""POST /events: valid events travel through Kafka into the store; invalid ones get reasons;
hostile bodies are refused whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

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

    service.start("consume")
    wait_until(lambda: len(service.stored_event_ids()) == 3, what="the posted events stored")
    assert sorted(service.stored_event_ids()) == ["http-1", "http-2", "http-3"]


@pytest.fixture
def shop(desk: Desk) -> TestClient:
    """An ingest key, as an upstream web shop has."""
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
