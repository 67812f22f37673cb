"""The agent's work queue on a real store: complaints by next SLA deadline, follow-ups due,
open alerts, routed to the customers' current owners."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.facts import ReportedFact
from domain.follow_ups import A_MOMENT
from projections.catalog import FOLLOW_UPS
from projections.follow_ups import FollowUpProjection
from service.settings import REPO_ROOT
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
_ids = itertools.count(1)


def fact(event_type: str, customer: str, at: datetime, **data: Any) -> ReportedFact:
    return ReportedFact(f"q-{next(_ids)}", event_type, "tests", customer, at, data)


def owner(customer: str, agent: str, at: datetime, name: str | None = None) -> ReportedFact:
    return fact("crm.account.owner_assigned", customer, at, owner_id=agent,
                owner_name=name or f"Agent {agent}")


def complaint(customer: str, complaint_id: str, at: datetime, priority: str) -> ReportedFact:
    return fact("crm.complaint.opened", customer, at, complaint_id=complaint_id,
                priority=priority, category="delivery")


def contact(customer: str, at: datetime, outcome: str = "resolved", **data: Any) -> ReportedFact:
    return fact("crm.contact.logged", customer, at, channel="phone", direction="inbound",
                agent_id="A-007", outcome=outcome, **data)


def agent_client(desk: Desk, agent: str | None, team: str | None = None) -> TestClient:
    key = desk.client.app.state.keys.create(f"agent {agent}", "agent", agent_id=agent, team=team)
    return TestClient(desk.client.app, headers={"X-API-Key": key})


def queue(client: TestClient, **params: Any) -> dict[str, Any]:
    answer = client.get("/queue", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def due(desk: Desk, opened: datetime, priority: str, deadline: str) -> str:
    """The deadline the policy book sets, computed from the book itself."""
    policy = desk.settings.policies().sla.policy_for(opened)
    targets = policy.targets_for(priority, "delivery")
    return policy.calendar.add(opened, getattr(targets, deadline)).isoformat()


def test_the_queue_orders_complaints_by_their_next_deadline_exactly(desk: Desk) -> None:
    opened = {"K-1": NOW - 0.25 * H, "K-2": NOW - 0.5 * H, "K-3": NOW - 2 * H, "K-4": NOW - H}
    desk.record(
        owner("C-1", "A-007", NOW - 10 * H), owner("C-2", "A-007", NOW - 10 * H),
        owner("C-3", "A-008", NOW - 10 * H),
        complaint("C-2", "K-2", opened["K-2"], "high"),      # first response due in 3.5 h
        complaint("C-1", "K-1", opened["K-1"], "urgent"),    # first response due in 45 min
        complaint("C-1", "K-3", opened["K-3"], "normal"),    # responded: resolution in 70 h
        fact("crm.complaint.responded", "C-1", NOW - H, complaint_id="K-3"),
        complaint("C-3", "K-4", opened["K-4"], "urgent"),    # another owner's
    )
    mine = queue(agent_client(desk, "A-007"), kind="complaint")
    assert mine["agent"] == "A-007"
    assert [(i["complaint_id"], i["deadline"], i["due_at"]) for i in mine["items"]] == [
        ("K-1", "first_response", due(desk, opened["K-1"], "urgent", "first_response")),
        ("K-2", "first_response", due(desk, opened["K-2"], "high", "first_response")),
        ("K-3", "resolution", due(desk, opened["K-3"], "normal", "resolution")),
    ]
    first = mine["items"][0]
    assert first["owner"] == {"id": "A-007", "name": "Agent A-007"}
    assert first["customer_id"] == "C-1" and first["overdue"] is False
    assert first["title"].startswith("Complaint K-1 (urgent) needs a first response by ")
    assert {k: first[k] for k in ("task_id", "alert_id", "alert_kind")} == dict.fromkeys(
        ("task_id", "alert_id", "alert_kind"))
    assert queue(agent_client(desk, "A-007"), kind="complaint", limit=2)["items"][1][
        "complaint_id"] == "K-2"
    # A key naming no agent sees everyone's work, owned by anyone.
    everyone = queue(desk.client, kind="complaint")
    assert everyone["agent"] is None
    # K-4 (urgent, an hour old) is due now: before K-1, due in 45 minutes.
    assert [i["complaint_id"] for i in everyone["items"]] == ["K-4", "K-1", "K-2", "K-3"]


def test_alerts_go_to_the_owner_and_move_with_a_new_owner(desk: Desk) -> None:
    desk.record(owner("C-3", "A-008", NOW - 10 * H),
                complaint("C-3", "K-9", NOW - 5 * H, "high"))  # first response breached 1 h ago
    old, new = agent_client(desk, "A-008"), agent_client(desk, "A-007")
    alerts = queue(old, kind="alert")["items"]
    assert [(a["alert_kind"], a["customer_id"]) for a in alerts] == [
        ("sla_at_risk", "C-3"), ("sla_breach", "C-3")]
    assert alerts[1]["due_at"] == (NOW - H).isoformat() and alerts[1]["overdue"] is True
    assert alerts[1]["title"].startswith("SLA breached: first response of complaint K-9")
    assert queue(new)["items"] == []
    listed = desk.client.get("/alerts").json()["alerts"]
    assert {a["owner"]["id"] for a in listed} == {"A-008"}

    desk.record(owner("C-3", "A-007", NOW - H, "Ada"))  # reassigned: the work moves
    assert queue(old)["items"] == []
    moved = queue(new)["items"]
    # The breach and the complaint's missed deadline are due at the same moment: by kind.
    assert [(i["kind"], i["complaint_id"] or i["alert_kind"], i["due_at"]) for i in moved] == [
        ("alert", "sla_at_risk", (NOW - 1.8 * H).isoformat()),
        ("alert", "sla_breach", (NOW - H).isoformat()),
        ("complaint", "K-9", (NOW - H).isoformat())]
    assert moved[2]["overdue"] is True and "missed its deadline" in moved[2]["title"]
    assert {i["owner"]["id"] for i in moved} == {"A-007"}
    assert {a["owner"]["name"] for a in desk.client.get("/alerts").json()["alerts"]} == {"Ada"}
    # Acknowledged, an alert leaves the queue.
    breach = next(i for i in moved if i["alert_kind"] == "sla_breach")
    assert new.post(f"/alerts/{breach['alert_id']}/ack").status_code == 200
    assert [i["alert_kind"] for i in queue(new, kind="alert")["items"]] == ["sla_at_risk"]


def test_queue_filters_combine_and_say_what_was_wrong(desk: Desk) -> None:
    desk.record(owner("C-1", "A-007", NOW - 10 * H), owner("C-2", "A-009", NOW - 10 * H),
                owner("C-3", "A-008", NOW - 10 * H),
                complaint("C-1", "K-1", NOW - H, "low"), complaint("C-2", "K-2", NOW - H, "low"),
                complaint("C-3", "K-3", NOW - H, "low"))
    lead = agent_client(desk, "A-100", team="billing")
    agent_client(desk, "A-007", team="billing")
    agent_client(desk, "A-009", team="billing")
    team = queue(lead, team="billing")
    assert team["agent"] is None
    assert sorted(i["complaint_id"] for i in team["items"]) == ["K-1", "K-2"]
    assert [i["complaint_id"] for i in queue(lead, team="billing", owner="A-009")["items"]] == ["K-2"]
    assert [i["complaint_id"] for i in queue(lead, agent="A-008")["items"]] == ["K-3"]
    assert queue(lead, agent="A-008", team="billing")["items"] == []
    assert queue(lead, kind="follow_up")["items"] == []  # A-100 owns nobody
    unknown = lead.get("/queue", params={"team": "nobody"})
    assert unknown.status_code == 404 and "no team 'nobody'" in unknown.json()["detail"]
    stranger = lead.get("/queue", params={"agent": "A-404"})
    assert stranger.status_code == 404 and "no agent 'A-404'" in stranger.json()["detail"]
    for wrong in ({"kind": "chore"}, {"limit": 0}, {"limit": 501}, {"agent": ""}):
        assert lead.get("/queue", params=wrong).status_code == 422, wrong


def test_follow_ups_open_close_and_go_overdue_once(desk: Desk) -> None:
    clock: FollowUpProjection = desk.catalog.live(FOLLOW_UPS)  # type: ignore[assignment]
    promised = NOW + 2 * H
    desk.record(owner("C-1", "A-007", NOW - 10 * H),
                contact("C-1", NOW - 3 * H, "follow_up", follow_up_at=promised.isoformat()),
                contact("C-2", NOW - 30 * H, "follow_up"))  # no time: 24 h later, overdue
    agent = agent_client(desk, "A-007")
    tasks = queue(agent, kind="follow_up")["items"]
    assert [(t["customer_id"], t["due_at"], t["overdue"]) for t in tasks] == [
        ("C-1", promised.isoformat(), False)]
    assert tasks[0]["title"].startswith("Follow up with C-1 by ")
    everyone = [(t["customer_id"], t["due_at"]) for t in queue(desk.client, kind="follow_up")["items"]]
    assert everyone == [("C-2", (NOW - 6 * H).isoformat()), ("C-1", promised.isoformat())]

    assert clock.check_due(NOW - 6 * H) == 0  # exactly at the due time: in time
    assert clock.check_due(NOW - 6 * H + A_MOMENT) == 1  # a microsecond later: overdue
    assert clock.check_due(promised) == 0
    assert clock.check_due(promised + A_MOMENT) == 1
    assert clock.check_due(promised + 5 * H) == 0  # raised once
    restarted = desk.catalog.projection(FOLLOW_UPS, 1)
    assert isinstance(restarted, FollowUpProjection)
    assert restarted.check_due(promised + 9 * H) == 0  # and once across a restart
    overdue = desk.client.get("/alerts", params={"kind": "follow_up_overdue"}).json()["alerts"]
    assert sorted((a["customer_id"], a["raised_time"]) for a in overdue) == [
        ("C-1", promised.isoformat()), ("C-2", (NOW - 6 * H).isoformat())]
    assert next(a for a in overdue if a["customer_id"] == "C-1")["owner"]["id"] == "A-007"
    entries = desk.page("C-2")["entries"]
    assert [e["type"] for e in entries] == ["crm.follow_up.overdue", "crm.contact.logged"]
    assert entries[0]["summary"].startswith("Follow-up overdue: the phone contact of")

    # A contact at the very moment of the opening closes nothing; any later one closes it.
    desk.record(contact("C-2", NOW - 30 * H))
    assert len(queue(desk.client, kind="follow_up")["items"]) == 2
    desk.record(contact("C-2", NOW - 30 * H + A_MOMENT, "no_answer"))
    assert [t["customer_id"] for t in queue(desk.client, kind="follow_up")["items"]] == ["C-1"]
    view = desk.client.get("/customers/C-2").json()
    assert [(t["status"], t["overdue"], t["due_at"]) for t in view["follow_ups"]] == [
        ("closed", False, (NOW - 6 * H).isoformat())]
    then = desk.client.get("/customers/C-2", params={"as_of": (NOW - 10 * H).isoformat()}).json()
    assert [t["status"] for t in then["follow_ups"]] == ["closed"]
    # A later follow-up contact closes the open task and opens its own.
    desk.record(contact("C-1", NOW - H, "follow_up"))
    open_now = queue(agent, kind="follow_up")["items"]
    assert [t["due_at"] for t in open_now] == [(NOW + 23 * H).isoformat()]
    assert [t["status"] for t in desk.client.get("/customers/C-1").json()["follow_ups"]] == [
        "open", "closed"]


def test_a_follow_up_recorded_after_a_later_contact_is_closed_at_once(desk: Desk) -> None:
    desk.record(contact("C-1", NOW - H))
    desk.record(contact("C-1", NOW - 2 * H, "follow_up"))
    assert queue(desk.client, kind="follow_up")["items"] == []
    [task] = desk.client.get("/customers/C-1").json()["follow_ups"]
    assert task["status"] == "closed" and task["closed_at"] == (NOW - H).isoformat()


def test_an_agent_acknowledges_in_their_own_name_only_an_admin_for_others(desk: Desk) -> None:
    desk.record(complaint("C-1", "K-1", NOW - 5 * H, "high"))
    alerts = [a["alert_id"] for a in desk.client.get("/alerts").json()["alerts"]]
    agent, nameless = agent_client(desk, "A-007"), agent_client(desk, None)
    other = agent.post(f"/alerts/{alerts[0]}/ack", json={"by": "A-999"})
    assert other.status_code == 403 and "own name ('A-007')" in other.json()["detail"]
    own = agent.post(f"/alerts/{alerts[0]}/ack", json={"by": "A-007"})
    assert own.status_code == 200 and own.json()["acknowledged_by"] == "A-007"
    by_name = nameless.post(f"/alerts/{alerts[1]}/ack")
    assert by_name.status_code == 200 and by_name.json()["acknowledged_by"] == "agent None"
    assert own.json()["owner"] is None


def test_keys_name_their_agent_and_team_on_the_command_line(desk: Desk, store: dict[str, str]) -> None:
    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "service.cli", "keys", *args],
                              env={**os.environ, **store}, cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60)

    created = keys("create", "--name", "Ada", "--role", "agent", "--agent", "A-007",
                   "--team", "billing")
    assert created.returncode == 0, created.stderr
    assert "agent A-007 of team billing" in created.stdout
    caller = desk.client.app.state.keys.verify(created.stdout.splitlines()[0])
    assert (caller.agent_id, caller.team, caller.who) == ("A-007", "billing", "A-007")
    listed = [line for line in keys("list").stdout.splitlines() if "Ada" in line]
    assert listed and listed[0].endswith("agent A-007  team billing")
    for wrong in (["--role", "agent", "--team", "billing"],
                  ["--role", "ingest", "--agent", "A-1"],
                  ["--role", "agent", "--agent", "A 1"]):
        refused = keys("create", "--name", "x", *wrong)
        assert refused.returncode != 0 and "crm-timeline keys:" in refused.stderr, wrong
