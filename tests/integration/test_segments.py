"""Segments defined without code: a segment defined after thousands of events holds the
customers a plain loop over the 360s picks; every entry and exit reaches `crm.segments`
exactly once per change (by its id), also when the relay dies before marking and when
the keeper restarts; membership reads as of a past moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from outbox.relay import OutboxRelay
from projections import replay
from projections.catalog import CUSTOMER_360
from projections.segments import SegmentBook
from schemas.published import segment_cloudevent
from service import bootstrap
from service.settings import REPO_ROOT
from tests.integration.conftest import Desk
from tests.integration.test_reports import sample_facts

pytestmark = pytest.mark.integration

RULE = {"all": [{"field": "loyalty.tier", "in": ["silver", "gold", "platinum"]},
                {"field": "consents.email", "eq": True},
                {"field": "days_since_last_order", "gte": 30}]}


def plain_loop(desk: Desk, now: datetime) -> set[str]:
    """The segment by hand, over every stored 360 row."""
    picked = set()
    for row in desk.catalog.read(CUSTOMER_360):
        if row["merged_into"] is not None:
            continue
        doc = json.loads(row["document"])
        last = doc["orders"]["last_order_time"]
        if (doc["loyalty"]["tier"] in ("silver", "gold", "platinum")
                and doc["consents"].get("email") is True and last is not None
                and (now - datetime.fromisoformat(last)).days >= 30):
            picked.add(row["customer_id"])
    return picked


def members(desk: Desk, **params: Any) -> set[str]:
    found, cursor = set(), None
    while True:
        page = desk.client.get("/segments/reachable/members",
                               params={**params, "limit": 37, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        found |= {m["customer_id"] for m in page.json()["members"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


def published(bootstrap_servers: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    try:
        return list(consumer)
    finally:
        consumer.close()


def test_a_segment_defined_after_thousands_of_events(desk: Desk, kafka_bootstrap: str,
                                                     tmp_path: Path) -> None:
    facts = sample_facts(250)
    assert len(facts) > 4000
    desk.record(*facts)
    topic = f"t{uuid.uuid4().hex[:8]}.segments"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    try:
        defined = desk.client.put("/segments/reachable", json={
            "rule": RULE, "description": "loyal, reachable by e-mail, quiet for a month"})
        assert defined.status_code == 200, defined.text
        assert defined.json()["version"] == 1 and defined.json()["timed"] is True
        keeper = bootstrap.build_segment_keeper(desk.settings, desk.catalog)
        keeper.page_size = 40  # a build over many pages, as over a large store
        first = datetime.now(UTC) + timedelta(days=1)
        while keeper.tick(first) or desk.client.get("/segments").json()["segments"][0]["in_progress"]:
            pass
        listed = desk.client.get("/segments").json()["segments"][0]
        assert listed["built"] and listed["in_progress"] is None
        expected = plain_loop(desk, first)
        assert len(expected) >= 5 and listed["members"] == len(expected)
        assert members(desk) == expected
        out = tmp_path / "reachable.parquet"  # the members as customers, for SQL
        subprocess.run([sys.executable, "-m", "service.cli", "export", "segment", "reachable",
                        "--out", str(out)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                       check=True, capture_output=True, timeout=120)
        assert {row[0] for row in duckdb.sql(
            f"SELECT customer_id FROM read_parquet('{out}')").fetchall()} == expected

        relay = OutboxRelay(desk.views, SegmentBook(desk.views), desk.settings.kafka_client(),
                            topic, id_header="change_id", as_cloudevent=segment_cloudevent)
        while relay.relay_once():
            pass

        # Later facts: a member orders again (no longer quiet), another withdraws consent.
        leaving = sorted(expected)[:2]
        later = first + timedelta(hours=1)
        kind = type(facts[0])
        desk.record(
            kind("late-1", "crm.order.placed", "test", leaving[0], later, {
                "order_id": "O-late", "amount": "10.00", "currency": "EUR",
                "items": [{"sku": "X", "name": "X", "quantity": 1, "unit_price": "10.00"}]}),
            kind("late-2", "crm.account.consent_changed", "test", leaving[1], later,
                 {"channel": "email", "granted": False}))
        second = later + timedelta(minutes=5)
        assert keeper.tick(second) == 2
        assert members(desk) == expected - set(leaving) == plain_loop(desk, second)
        # A restarted keeper finds nothing new to record.
        assert bootstrap.build_segment_keeper(desk.settings, desk.catalog).tick(second) == 0
        # A rebuilt 360 swapped in: its rows are judged again, in a sweep over everyone.
        replay.replay(desk.catalog, CUSTOMER_360)
        time.sleep(1.1)  # the catalog looks up the live generation once a second
        assert keeper.tick(second) == 0
        assert desk.client.get("/segments").json()["segments"][0]["in_progress"]["pass"] == "sweep"
        while desk.client.get("/segments").json()["segments"][0]["in_progress"]:
            assert keeper.tick(second) == 0

        # The relay dies after publishing, before marking: the next one publishes the
        # same changes again, with the same ids.
        dying = OutboxRelay(desk.views, SegmentBook(desk.views), desk.settings.kafka_client(),
                            topic, id_header="change_id", as_cloudevent=segment_cloudevent)

        def killed(ids: list[str]) -> None:
            raise RuntimeError("killed before marking")

        dying.mark_published = killed  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            dying.relay_once()
        while relay.relay_once():
            pass

        messages = published(kafka_bootstrap, topic)
        ids = [dict(m.headers)["change_id"].decode() for m in messages]
        assert len(ids) == len(expected) + 2 + 2  # the two exits twice
        events = [json.loads(m.value) for m in messages]  # CloudEvents; data: the change
        assert all(e["id"] == e["data"]["change_id"] and e["type"] == e["data"]["type"]
                   and e["subject"] == e["data"]["customer_id"] for e in events)
        changes = {e["id"]: e["data"] for e in events}
        assert set(ids) == set(changes) and len(changes) == len(expected) + 2
        per_customer = Counter((c["customer_id"], c["type"]) for c in changes.values())
        assert all(n == 1 for n in per_customer.values())
        assert {c for (c, kind_), _ in per_customer.items() if kind_ == "crm.segment.exited"} == set(leaving)
        exit_ = next(c for c in changes.values() if c["customer_id"] == leaving[1]
                     and c["type"] == "crm.segment.exited")
        assert "no: consents.email is True (it is False)" in exit_["reasons"]
        assert all(m.key.decode() == json.loads(m.value)["subject"] for m in messages)

        # As of a past moment: before the exits, the members as built.
        assert members(desk, as_of=(first + timedelta(minutes=30)).isoformat()) == expected
        assert members(desk, as_of=second.isoformat()) == expected - set(leaving)
        with desk.views.read() as db:
            assert SegmentBook(desk.views).counts(db, "reachable", [
                first - timedelta(minutes=1), first, second]) == [0, len(expected), len(expected) - 2]
        counts = desk.client.get("/segments/reachable/counts", params={"days": 3})
        assert counts.status_code == 200 and len(counts.json()["counts"]) == 4
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_segment_rules_are_checked_and_roles_enforced(desk: Desk) -> None:
    wrong = desk.client.put("/segments/x", json={"rule": {"all": [{"field": "loyalty.tier",
                                                                   "gt": 3}]}})
    assert wrong.status_code == 400
    assert "rule.all[0].gt: gt compares numbers" in wrong.json()["detail"]
    unknown = desk.client.put("/segments/x", json={"rule": {"field": "shoe_size", "eq": 1}})
    assert unknown.status_code == 400 and "no field 'shoe_size'" in unknown.json()["detail"]
    assert desk.client.put("/segments/Bad Name", json={"rule": {"all": []}}).status_code == 422
    agent = desk.client.app.state.keys.create("an agent", "agent")
    as_agent = {"Authorization": f"Bearer {agent}"}
    assert desk.client.put("/segments/x", json={"rule": {"all": []}},
                           headers=as_agent).status_code == 403
    assert desk.client.put("/segments/x", json={"rule": {"all": []}}).status_code == 200
    assert desk.client.get("/segments", headers=as_agent).status_code == 200
    assert desk.client.delete("/segments/x", headers=as_agent).status_code == 403
    retired = desk.client.delete("/segments/x")
    assert retired.status_code == 200 and retired.json()["retired"] is True
    history = desk.client.get("/segments/x").json()["versions"]
    assert [(v["version"], v["retired"]) for v in history] == [(1, False), (2, True)]
    assert desk.client.delete("/segments/x").status_code == 404
