"""Search by what the analytical read models found: churn risk, open anomaly flags and
incomplete records, each equal to a plain loop over the 360s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generators.loadgen import as_fact
from predictions.fitting import CHURN
from predictions.model_book import ModelBook
from projections.catalog import CUSTOMER_360
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


def history() -> list:
    events = []
    for n in range(12):
        customer = f"C-{n:02}"
        events.append(cloud_event("crm.account.opened", customer, at=NOW - 400 * DAY,
                                  event_id=f"open-{n}",
                                  data={"name": f"Customer {n}", "email": f"c{n}@example.com",
                                        **({"phone": "+49 30 1234567"} if n % 3 else {})}))
        # customer n orders every 20 days for n + 1 orders, the last 10 * n days ago
        for k in range(n + 1):
            at = NOW - (10 * n + 20 * (n - k)) * DAY - timedelta(hours=1)
            events.append(cloud_event("crm.order.placed", customer, at=at,
                                      event_id=f"o-{n}-{k}",
                                      data={"order_id": f"O-{k}", "amount": "20.00",
                                            "currency": "EUR", "items": []}))
    events.append(cloud_event("crm.account.opened", "C-99", at=NOW - DAY, event_id="open-99",
                              data={"name": "No orders"}))
    return events


def listed(desk: Desk, **params: object) -> list[dict]:
    found, cursor = [], None
    while True:
        response = desk.client.get("/customers", params={**params, "limit": 3,
                                                         **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["customers"]
        if not (cursor := page["next_cursor"]):
            return found


def test_filters_equal_plain_loops_over_the_360s(desk: Desk) -> None:
    desk.record(*map(as_fact, history()))
    everyone = [f"C-{n:02}" for n in range(12)] + ["C-99"]
    views = {c: desk.client.get(f"/customers/{c}").json() for c in everyone}

    lacking_phone = [c for c in everyone if "phone" in views[c]["completeness"]["missing"]]
    assert [c["customer_id"] for c in listed(desk, incomplete="phone")] == lacking_phone
    assert len(lacking_phone) == 5  # C-00, C-03, C-06, C-09 and C-99
    assert [c["customer_id"] for c in listed(desk, incomplete="any")] == everyone
    assert desk.client.get("/customers", params={"incomplete": "shoe_size"}).status_code == 422
    # No filter at all: every customer, by id (merged duplicates left out).
    assert [c["customer_id"] for c in listed(desk)] == everyone

    assert desk.client.get("/customers", params={"churn_risk_min": 0.5}).status_code == 409
    book: ModelBook = desk.client.app.state.read_side.models  # type: ignore[attr-defined]
    book.record(CHURN, fitted_at=datetime.now(UTC), as_of=NOW - DAY,
                facts_up_to=1, parameters={"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 3.0},
                summary={})
    views = {c: desk.client.get(f"/customers/{c}").json() for c in everyone}
    for minimum in (0.0, 0.5, 0.9):
        expected = {c: views[c]["churn"]["risk"] for c in everyone
                    if views[c]["churn"]["risk"] is not None
                    and views[c]["churn"]["risk"] >= minimum}
        found = {c["customer_id"]: c["churn_risk"] for c in listed(desk, churn_risk_min=minimum)}
        assert found.keys() == expected.keys(), minimum
        assert found == pytest.approx(expected, abs=1e-3)  # a few ms apart
    assert 0 < len(listed(desk, churn_risk_min=0.5)) < 12
    # Filters combine with each other and with text.
    both = listed(desk, churn_risk_min=0.5, incomplete="phone", q="Customer")
    assert [c["customer_id"] for c in both] == [
        c for c in lacking_phone if c != "C-99" and views[c]["churn"]["risk"] >= 0.5]


def test_anomaly_filter_lists_open_flags_of_the_customer_or_its_duplicates(desk: Desk) -> None:
    def placed(customer: str, n: int, amount: str, days_ago: float) -> dict:
        return cloud_event("crm.order.placed", customer, at=NOW - days_ago * DAY,
                           event_id=f"o-{customer}-{n}",
                           data={"order_id": f"O-{n}", "amount": amount, "currency": "EUR",
                                 "items": []})

    usual = [placed(c, n, "20.00", 60 - 7 * n) for c in ("A-1", "A-2", "Q-1") for n in range(5)]
    desk.record(*map(as_fact, usual))
    desk.record(as_fact(placed("A-1", 9, "400.00", 1)), as_fact(placed("A-2", 9, "500.00", 1)),
                as_fact(cloud_event("crm.account.merged", "S-1", event_id="m-1",
                                    data={"duplicate_customer_id": "A-2"})))
    assert [c["customer_id"] for c in listed(desk, anomaly="any")] == ["A-1", "S-1"]
    assert [c["customer_id"] for c in listed(desk, anomaly="amount_outlier")] == ["A-1", "S-1"]
    assert listed(desk, anomaly="order_burst") == []
    flag = desk.client.get("/alerts", params={"kind": "anomaly", "customer_id": "A-1"}).json()
    alert_id = flag["alerts"][0]["alert_id"]
    assert desk.client.post(f"/alerts/{alert_id}/ack").status_code == 200
    assert [c["customer_id"] for c in listed(desk, anomaly="any")] == ["S-1"]


def test_a_360_table_of_an_earlier_release_gets_the_new_columns(desk: Desk) -> None:
    model = desk.catalog.live(CUSTOMER_360)
    with desk.views.write() as db:
        db.execute(f"DROP TABLE {model.table}")  # type: ignore[attr-defined]
        db.execute(f"CREATE TABLE {model.table} (customer_id TEXT PRIMARY KEY,"  # type: ignore[attr-defined]
                   " merged_into TEXT, name TEXT, email TEXT, phone_digits TEXT,"
                   " status TEXT NOT NULL, loyalty_score INTEGER, loyalty_tier TEXT,"
                   " last_event_at BIGINT, streams TEXT NOT NULL, document TEXT NOT NULL)")
    model.create_tables(desk.views)
    model.create_tables(desk.views)  # again: nothing left to add
    desk.record(*map(as_fact, history()[:3]))
    assert [c["customer_id"] for c in listed(desk, incomplete="phone")] == ["C-00"]
