"""Erasure by crypto-shredding (SPEC §5): afterwards no table, view, report, log line or
API answer holds the customer's personal data; counts and amounts stay; replays too."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.facts import ReportedFact
from projections import replay
from projections.catalog import LiveGenerations
from projections.runner import Projector
from service import bootstrap
from storage.views import ViewDatabase
from tests.events import NOW, cloud_event
from tests.integration.conftest import Desk, ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

#: C-1's personal data, and C-2's (a duplicate record of the same person, merged into C-1).
ERASED = ["Ottilie Wunderlich", "ottilie.w@example.org", "+49 170 5550123", "Kastanienallee 17",
          "o.wunderlich@example.net", "parcel crushed by Hagen", "asked about invoice 4471",
          "loves the grinder", "Otti W. Duplicate", "otti.dup@example.org",
          "+491705550123"]  # the phone as duplicate detection keeps it (E.164)
#: Someone else's, which must stay (and shows the scan would find strings if they were there).
KEPT = ["Bruno Keller", "bruno.k@example.com", "asked about the warranty"]


def events(at_hours: float = 100) -> list[dict[str, Any]]:
    def at(hours: float):  # noqa: ANN202
        return NOW - timedelta(hours=at_hours - hours)

    def e(event_type: str, customer: str, hours: float, **data: Any) -> dict[str, Any]:
        return cloud_event(event_type, customer, at=at(hours), data=data)

    return [
        e("crm.account.opened", "C-1", 0, name="Ottilie Wunderlich", email="ottilie.w@example.org",
          phone="+49 170 5550123", address="Kastanienallee 17, Berlin", country="DE"),
        e("crm.account.opened", "C-2", 1, name="Otti W. Duplicate", email="otti.dup@example.org"),
        e("crm.account.opened", "C-3", 1, name="Bruno Keller", email="bruno.k@example.com"),
        e("crm.order.placed", "C-1", 2, order_id="O-1", amount="120.00", currency="EUR",
          items=[{"sku": "G-1", "name": "Grinder", "quantity": 1, "unit_price": "120.00"}]),
        e("crm.order.placed", "C-2", 3, order_id="O-2", amount="30.00", currency="EUR"),
        e("crm.account.updated", "C-1", 4, changes={"email": "o.wunderlich@example.net"}),
        e("crm.complaint.opened", "C-1", 5, complaint_id="K-1", priority="high",
          category="delivery", summary="parcel crushed by Hagen"),
        e("crm.contact.logged", "C-1", 6, channel="phone", direction="inbound",
          subject="asked about invoice 4471"),
        e("crm.contact.logged", "C-3", 6, channel="email", direction="inbound",
          subject="asked about the warranty"),
        e("crm.survey.answered", "C-1", 7, survey_id="S-1", nps=9, comment="loves the grinder"),
        e("crm.account.merged", "C-1", 8, duplicate_customer_id="C-2"),
    ]


def as_fact(event: dict[str, Any]) -> ReportedFact:
    return ReportedFact(event["id"], event["type"], event["source"], event["subject"],
                        datetime.fromisoformat(event["time"]), event["data"])


def every_table(views: ViewDatabase) -> dict[str, str]:
    """Every row of every table in the service's database, as text (bytes decoded)."""
    with views.read() as db:
        if views.dialect == "postgres":
            db.execute("SELECT table_name AS name FROM information_schema.tables"
                       " WHERE table_schema = %s", [views.datastore.schema])  # type: ignore[union-attr]
        else:
            db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [row["name"] for row in db.fetchall()]
        found = {}
        for table in tables:
            db.execute(f"SELECT * FROM {views.table(table)}")
            found[table] = "\n".join(
                " ".join(bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | memoryview)
                         else str(v) for v in row.values())
                for row in db.fetchall())
    return found


def views_caught_up(service: ServiceUnderTest) -> None:
    """Wait for every read model to reach the end of the store: the timeline and the others
    follow in loops of their own, so one view showing the erasure says nothing of the rest."""
    catalog = bootstrap.build_catalog(service.settings, service.history, service.views)
    wait_until(lambda: all(model["caught_up"] for model in catalog.describe()),
               what="every read model caught up")


def api_answers(client: TestClient, customers: list[str], queries: list[str]) -> str:
    answers = []
    for customer in customers:
        for path in ("", "/loyalty", "/timeline?limit=200", "/duplicates", "/recommendations"):
            answers.append(client.get(f"/customers/{customer}{path}").text)
    answers += [client.get("/customers", params={"q": q}).text for q in queries]
    for report in client.get("/reports").json()["reports"]:
        answers.append(client.get(f"/reports/{report['name']}").text)
    answers.append(client.get("/alerts").text)
    return "\n".join(answers)


def holding(text: str | dict[str, str], strings: list[str]) -> list[str]:
    """Which of ``strings`` occur (case-insensitively) in ``text``, with where."""
    places = text if isinstance(text, dict) else {"text": text}
    return sorted(f"{s!r} in {where}" for s in strings for where, body in places.items()
                  if s.lower() in body.lower())


def test_erasure_leaves_no_personal_data_in_any_table_or_answer_and_replays_keep_it_gone(
    desk: Desk,
) -> None:
    desk.record(*map(as_fact, events()))
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    for name in catalog.reports:
        replay.replay(catalog, name)
    live = LiveGenerations(catalog, catalog.rebuildable)
    before = desk.client.get("/customers/C-1").json()
    entries = len(desk.page("C-1", limit=200)["entries"])
    queries = ["Wunderlich", "ottilie", "5550123", "Otti", "Keller"]
    assert len(holding(every_table(desk.views), ERASED)) >= len(ERASED)  # the scan sees them
    assert holding(api_answers(desk.client, ["C-1", "C-2"], queries), ERASED)

    desk.record(as_fact(cloud_event("crm.account.erasure_requested", "C-1", at=NOW,
                                    data={"requested_by": "ticket P-12"})),
                as_fact(cloud_event("crm.account.erasure_requested", "C-2", at=NOW)))
    Projector(desk.history, desk.views, live.read_models()).catch_up()

    def check() -> None:
        assert holding(every_table(desk.views), ERASED) == []
        assert holding(api_answers(desk.client, ["C-1", "C-2", "C-3"], queries), ERASED) == []
        assert len(holding(every_table(desk.views), KEPT)) >= len(KEPT)
        after = desk.client.get("/customers/C-1").json()
        assert after["profile"].get("name") is None and after["profile"]["country"] == "DE"
        for part in ("orders", "complaints", "contacts", "satisfaction"):  # counts and amounts stay
            assert after[part] == before[part], part
        assert len(desk.page("C-1", limit=200)["entries"]) == entries + 2  # the two requests
        found = desk.client.get("/customers", params={"q": "Keller"}).json()["customers"]
        assert [c["customer_id"] for c in found] == ["C-3"]

    check()
    for name in catalog.rebuildable:
        assert replay.replay(catalog, name).state == "swapped"
    check()


def test_an_admin_erases_over_the_api_and_no_table_or_log_line_keeps_the_data(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    for event in events():
        service.publish(service.settings.topic_for(event["type"]), event, key=event["subject"])
    service.flush()
    service.start("consume")
    service.start("project")
    client = service.api()
    wait_until(lambda: client.get("/customers/C-1").json().get("merged_ids") == ["C-2"],
               what="C-1's facts and the merge projected")

    agent = client.app.state.keys.create("agent", "agent")
    refused = client.post("/admin/customers/C-2/erase", headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403
    assert client.post("/admin/customers/C-404/erase").status_code == 404
    answer = client.post("/admin/customers/C-2/erase", json={"reason": "ticket P-12"})
    assert answer.status_code == 202 and answer.json()["customer_ids"] == ["C-1", "C-2"]

    def erased() -> bool:
        page = client.get("/customers/C-1/timeline", params={"type": "crm.account"}).json()
        requests = [e for e in page["entries"] if e["type"] == "crm.account.erasure_requested"]
        return len(requests) == 2 and client.get("/customers/C-1").json()["profile"].get(
            "name") is None

    wait_until(erased, what="both erasure requests recorded and projected")
    views_caught_up(service)
    assert holding(every_table(service.views), ERASED) == []
    assert holding(api_answers(client, ["C-1", "C-2"], ["Wunderlich", "Otti"]), ERASED) == []
    service.stop_all()
    logs = {path.name: path.read_text() for path in Path(service.logs).glob("*.log")}
    assert set(logs) == {"consume.log", "project.log"} and all(logs.values())
    assert holding(logs, ERASED + KEPT) == []


def test_a_customer_id_holding_a_slash_is_erased_over_the_api(pg_service: ServiceUnderTest) -> None:
    service = pg_service
    slashed, name = "shop/de/C-77", "Sabine Schrägstrich"
    opened = cloud_event("crm.account.opened", slashed, at=NOW - timedelta(hours=5),
                         data={"name": name, "email": "sabine@example.org", "country": "DE"})
    service.publish(service.settings.topic_accounts, opened, key=slashed)
    service.flush()
    service.start("consume")
    service.start("project")
    client = service.api()
    wait_until(lambda: client.get("/customers/shop%2Fde%2FC-77").json().get("profile", {}).get(
        "name") == name, what="the customer projected")

    for reason in ("ticket\x00P-13", "two\nlines"):  # would be dead-lettered, leaving the data
        refused = client.post("/admin/customers/shop%2Fde%2FC-77/erase", json={"reason": reason})
        assert refused.status_code == 422, refused.text
        assert "control characters" in refused.text
    answer = client.post("/admin/customers/shop%2Fde%2FC-77/erase", json={"reason": "ticket P-13"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["customer_ids"] == [slashed]

    def erased() -> bool:
        view = client.get("/customers/shop%2Fde%2FC-77").json()
        return view["profile"].get("name") is None and view["profile"]["country"] == "DE"
    wait_until(erased, what="the erasure recorded and projected")

    def listed() -> list[str]:  # the timeline follows in a loop of its own
        timeline = client.get("/customers/shop/de/C-77/timeline").json()
        return [e["type"] for e in timeline["entries"]]
    wait_until(lambda: len(listed()) == 2, what="the erasure in the timeline")
    assert listed() == ["crm.account.erasure_requested", "crm.account.opened"]
    views_caught_up(service)
    assert holding(every_table(service.views), [name, "sabine@example.org"]) == []
