"""Duplicate candidates and the merge preview on a real store, through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from generators.loadgen import as_fact
from projections.catalog import DUPLICATES
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


def opened(customer: str, **profile: str) -> dict:
    return cloud_event("crm.account.opened", customer, at=NOW - 30 * DAY,
                       event_id=f"open-{customer}", data={"acquisition_channel": "web", **profile})


#: Planted pairs, each written differently, and near-misses that must pair with nobody.
PEOPLE = [
    opened("A-1", name="Anna Müller", email="Anna.Mueller@Example.com", country="DE"),
    opened("A-2", name="anna mueller", email="anna.mueller+shop@example.com"),
    opened("B-1", name="Bob Stone", phone="+44 20 7946 0958"),
    opened("B-2", name="Robert Stone", phone="020 7946 0958", country="GB"),
    opened("C-1", name="José García", address="12 Main Street, Flat 3"),
    opened("C-2", name="Garcia, Jose", address="12 main st. apt 3"),
    # near-misses: one letter in the e-mail, one digit in the phone, the household's
    # other member at the same address, the same name elsewhere
    opened("N-1", name="Anna Muller", email="anna.mueler@example.com"),
    opened("N-2", name="Bob Stone", phone="+44 20 7946 0959"),
    opened("N-3", name="Maria García", address="12 Main Street, Flat 3"),
    opened("N-4", name="José García", address="14 Main Street"),
]


def candidates(desk: Desk, customer: str) -> dict[str, dict]:
    response = desk.client.get(f"/customers/{customer}/duplicates")
    assert response.status_code == 200, response.text
    return {c["customer_id"]: c for c in response.json()["candidates"]}


def test_planted_pairs_are_found_and_near_misses_are_not(desk: Desk) -> None:
    desk.record(*[as_fact(e) for e in PEOPLE])
    assert set(candidates(desk, "A-1")) == {"A-2"}
    assert set(candidates(desk, "A-2")) == {"A-1"}
    assert set(candidates(desk, "B-2")) == {"B-1"}
    assert set(candidates(desk, "C-1")) == {"C-2"}
    anna = candidates(desk, "A-1")["A-2"]
    assert anna["matched"] == ["email"]
    assert anna["reasons"] == ["same e-mail address (ignoring case, spaces and +tags)"]
    assert anna["name"] == "anna mueller"  # who it is, as search lists them
    assert candidates(desk, "B-1")["B-2"]["reasons"] == ["same phone number (+44…0958 in E.164)"]
    assert candidates(desk, "C-2")["C-1"]["matched"] == ["name_and_address"]
    for near_miss in ("N-1", "N-2", "N-3", "N-4"):
        assert candidates(desk, near_miss) == {}, near_miss

    # A change of e-mail makes a new pair and ends the old one; a late, older change
    # does not undo it.
    desk.record(as_fact(cloud_event("crm.account.updated", "N-1", at=NOW - DAY, event_id="u-1",
                                    data={"changes": {"email": "ANNA.MUELLER@example.com"}})),
                as_fact(cloud_event("crm.account.updated", "A-2", at=NOW - DAY, event_id="u-2",
                                    data={"changes": {"email": "a.m@example.org"}})),
                as_fact(cloud_event("crm.account.updated", "A-2", at=NOW - 2 * DAY,
                                    event_id="u-3",
                                    data={"changes": {"email": "anna.mueller@example.com"}})))
    assert set(candidates(desk, "A-1")) == {"N-1"}

    # Once merged, the pair is one customer: no longer a candidate of itself.
    desk.record(as_fact(cloud_event("crm.account.merged", "B-1", event_id="m-1",
                                    data={"duplicate_customer_id": "B-2"})))
    assert candidates(desk, "B-1") == {}
    assert desk.client.get("/customers/nobody/duplicates").status_code == 404


def test_merge_preview_shows_the_survivor_after_and_the_conflicts(desk: Desk) -> None:
    def event(kind: str, customer: str, n: int, data: dict, days: int = 10) -> dict:
        return cloud_event(kind, customer, at=NOW - days * DAY, event_id=f"{customer}-{n}",
                           data=data)

    desk.record(*[as_fact(e) for e in [
        opened("S-1", name="Ann Lee", email="ann@example.com", phone="+1 415 555 0100"),
        opened("D-1", name="Ann Lee", email="ANN@example.com", phone="+1 415 555 0199"),
        event("crm.account.owner_assigned", "S-1", 1, {"owner_id": "agent-7"}),
        event("crm.account.owner_assigned", "D-1", 1, {"owner_id": "agent-9"}, days=5),
        event("crm.account.consent_changed", "S-1", 2, {"channel": "email", "granted": True}, 2),
        event("crm.account.consent_changed", "D-1", 2, {"channel": "email", "granted": False}, 9),
        event("crm.order.placed", "D-1", 3, {"order_id": "O-1", "amount": "80.00",
                                             "currency": "EUR", "items": []}),
        event("crm.complaint.opened", "D-1", 4, {"complaint_id": "K-1", "priority": "normal"}),
    ]])
    response = desk.client.get("/customers/S-1/merge-preview", params={"duplicate": "D-1"})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["survivor_id"], preview["duplicate_id"]) == ("S-1", "D-1")
    assert preview["after"]["merged_ids"] == ["D-1"]
    assert preview["changes"]["lifetime_value"] == {"before": {}, "after": {"EUR": "80.00"}}
    assert preview["changes"]["open_complaints"] == {"before": 0, "after": 1}
    assert preview["changes"]["orders"] == {"before": 0, "after": 1}
    conflicts = {c["field"]: c for c in preview["conflicts"]}
    assert set(conflicts) == {"owner", "consents.email", "profile.email", "profile.phone"}
    assert conflicts["owner"]["after"] == "agent-9"  # the latest assignment
    # S-1's later "yes" does not outweigh D-1's "no": the stricter wins until a choice
    # is recorded after the merge.
    assert conflicts["consents.email"]["after"] is False
    assert preview["after"]["consents"] == {"email": False}
    assert desk.client.get("/customers/S-1").json()["consents"] == {"email": True}  # nothing merged

    desk.record(as_fact(cloud_event("crm.account.merged", "S-1", at=NOW - DAY, event_id="m-1",
                                    data={"duplicate_customer_id": "D-1"})))
    assert desk.client.get("/customers/S-1").json()["consents"] == {"email": False}
    desk.record(as_fact(event("crm.account.consent_changed", "S-1", 5,
                              {"channel": "email", "granted": True}, days=0)))
    assert desk.client.get("/customers/S-1").json()["consents"] == {"email": True}
    refused = desk.client.get("/customers/S-1/merge-preview", params={"duplicate": "D-1"})
    assert refused.status_code == 409
    assert "already one customer" in refused.json()["detail"]


def test_erasure_removes_the_match_keys(desk: Desk) -> None:
    desk.record(*[as_fact(e) for e in PEOPLE[:2]])
    assert set(candidates(desk, "A-1")) == {"A-2"}
    desk.record(as_fact(cloud_event("crm.account.erasure_requested", "A-2", event_id="erase-1",
                                    data={})))
    assert candidates(desk, "A-1") == {}
    model = desk.catalog.live(DUPLICATES)
    with desk.views.read() as db:
        db.execute(f"SELECT * FROM {model.table}")  # type: ignore[attr-defined]
        rows = db.fetchall()
    assert [r["customer_id"] for r in rows] == ["A-1"]
