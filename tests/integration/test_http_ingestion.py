"""POST /events: valid events travel through Kafka into the store; invalid ones get reasons."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.events import cloud_event, contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

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
