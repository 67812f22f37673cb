"""Hostile HTTP input never stops the service (issue 13): each case answers 4xx with a reason,
on both store backends, and what is allowed still works (ids with "/", "%" in a search)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.facts import ReportedFact
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def opened(customer: str, name: str, **data: Any) -> ReportedFact:
    return ReportedFact(f"{customer}-opened", "crm.account.opened", "tests", customer,
                        NOW - timedelta(days=3), {"name": name, **data})


def b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


# --- the body limit ------------------------------------------------------------------------

def test_a_body_over_the_limit_without_a_key_is_413_before_any_key_check(
    desk: Desk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = desk.client.app
    checked: list[str] = []
    real_verify = app.state.keys.verify
    monkeypatch.setattr(app.state.keys, "verify", lambda key: checked.append(key) or real_verify(key))
    anonymous = TestClient(app)
    huge = b"[" + b" " * (desk.settings.api_max_body_bytes + 1) + b"]"

    no_key = anonymous.post("/events", content=huge, headers={"Content-Type": "application/json"})
    assert no_key.status_code == 413, no_key.text
    assert "1 MiB (1,048,576 bytes)" in no_key.json()["detail"]
    wrong_key = anonymous.post("/events", content=huge, headers={"X-API-Key": "crm_00000000_x"})
    assert wrong_key.status_code == 413
    chunked = anonymous.post("/events", content=iter([huge[:700_000], huge[700_000:]]))
    assert chunked.status_code == 413 and "sent in chunks" in chunked.json()["detail"]
    assert checked == []  # no key was looked at
    # Under the limit the key check comes first, as before.
    assert anonymous.post("/events", content=b"[]").status_code == 401
    assert checked == []
    assert anonymous.post("/events", content=b"[]", headers={"X-API-Key": "crm_00000000_x"}
                          ).status_code == 401
    assert checked == ["crm_00000000_x"]


# --- control characters in paths and queries ---------------------------------------------------

@pytest.mark.parametrize("url", [
    "/customers?q=a%00b",
    "/customers/C-1%00",
    "/customers/C-1/timeline?channel=%00",
    "/customers/C-1/timeline?type=crm.order%0A",
    "/alerts?customer_id=%00",
    "/alerts?kind=%1B",
    "/reports/x%00",
])
def test_a_control_character_in_a_path_or_query_is_400_never_500(desk: Desk, url: str) -> None:
    answer = desk.client.get(url)
    assert answer.status_code == 400, answer.text
    assert "control characters are not allowed" in answer.json()["detail"]
