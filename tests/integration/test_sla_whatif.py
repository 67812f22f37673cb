"""SLA what-if: a candidate policy book replayed over the stored complaints, checked
against plain loops over the facts; nothing published, nothing raised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.complaints import Complaint, Deadline, record_complaint_fact
from domain.facts import ReportedFact
from domain.sla_policy import DEFAULT_POLICY_BOOK, PolicyBook
from domain.sla_whatif import OpeningWindow
from projections.sla_whatif import sla_what_if
from service.settings import REPO_ROOT
from service.sla_config import parse_policy_book
from tests.events import NOW as _NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

H, M = timedelta(hours=1), timedelta(minutes=1)
NOW = _NOW.replace(second=0)  # whole minutes, as the verdicts' words show them
AS_OF = NOW
B = NOW - timedelta(days=3)  # when the settled complaints were opened
#: The SPEC's urgent targets are 1 h and 8 h; the candidate halves them, nothing else.
TIGHTER_URGENT = """
[[policies]]
version = "tighter-urgent"
effective_from = 2020-01-01T00:00:00Z

[policies.targets]
urgent = { first_response = 0.5, resolution = 4 }
"""


def tighter_from(switch: datetime, applies_to_open: bool | None = None) -> str:
    """The SPEC defaults until ``switch``, then tighter urgent targets (taking over open
    complaints if ``applies_to_open``; None: the option left out)."""
    option = "" if applies_to_open is None else f"applies_to_open = {str(applies_to_open).lower()}\n"
    return f"""
[[policies]]
version = "spec"
effective_from = 2020-01-01T00:00:00Z

[[policies]]
version = "tighter-urgent"
effective_from = {switch.isoformat().replace("+00:00", "Z")}
{option}
[policies.targets]
urgent = {{ first_response = 0.5, resolution = 4 }}
"""


class Facts:
    """Complaint facts built by hand, numbered in the order they are recorded."""

    def __init__(self) -> None:
        self.all: list[ReportedFact] = []

    def __call__(self, kind: str, at: datetime, complaint_id: str, customer: str = "C-1",
                 **data: Any) -> None:
        self.all.append(ReportedFact(f"w-{len(self.all)}", f"crm.complaint.{kind}", "tests",
                                     customer, at, {"complaint_id": complaint_id, **data}))


def edge_complaints() -> list[ReportedFact]:
    f = Facts()
    # Answered just inside the old urgent target, outside the tighter one.
    f("opened", B, "K-inside", priority="urgent", category="delivery")
    f("responded", B + 50 * M, "K-inside")
    f("resolved", B + 3 * H, "K-inside")
    # Answered on the old due to the second (in time), resolved between the two targets.
    f("opened", B, "K-edge", priority="urgent", category="delivery")
    f("responded", B + H, "K-edge")
    f("resolved", B + 5 * H, "K-edge")
    # Fast enough for both.
    f("opened", B, "K-fast", priority="urgent", category="billing")
    f("responded", B + 20 * M, "K-fast")
    f("resolved", B + 2 * H, "K-fast")
    # Normal priority: the same targets in both books.
    f("opened", B, "K-normal", priority="normal", category="delivery")
    f("responded", B + 50 * M, "K-normal")
    f("resolved", B + 5 * H, "K-normal")
    f("opened", B, "K-normal-late", "C-2", priority="normal", category="delivery")
    f("responded", B + 30 * H, "K-normal-late", "C-2")  # breached under both
    # Escalated from normal to urgent: the urgent targets tighten it from the escalation.
    f("opened", B, "K-escalated", "C-2", priority="normal", category="billing")
    f("escalated", B + 2 * H, "K-escalated", "C-2", priority="urgent")
    f("responded", B + 2 * H + 40 * M, "K-escalated", "C-2")  # due +3 h, or +2.5 h
    f("resolved", B + 7 * H, "K-escalated", "C-2")  # due +10 h, or +6 h
    # Reopened: the second resolution cycle is judged by each book's target.
    f("opened", B, "K-reopened", priority="urgent", category="billing")
    f("responded", B + 10 * M, "K-reopened")
    f("resolved", B + H, "K-reopened")
    f("reopened", B + 2 * H, "K-reopened")
    f("resolved", B + 6 * H + timedelta(seconds=1), "K-reopened")  # 4 h and a second
    # Still open: answered inside the old target, not resolved; past the new due as of now.
    f("opened", NOW - 6 * H, "K-open", "C-2", priority="urgent", category="delivery")
    f("responded", NOW - 5 * H - 20 * M, "K-open", "C-2")
    # Still open and never answered, past both dues: breached under both.
    f("opened", B, "K-ignored", "C-2", priority="urgent")
    # Paused before either at-risk moment: pending under both.
    f("opened", NOW - 3 * H, "K-paused", priority="urgent", category="delivery")
    f("responded", NOW - 2 * H - 50 * M, "K-paused")
    f("paused", NOW - 2 * H - 40 * M, "K-paused")
    # High priority, answered late: untouched.
    f("opened", B, "K-high", priority="high", category="delivery")
    f("responded", B + 5 * H, "K-high")
    # A follow-up whose opening was never recorded: neither book judges it.
    f("responded", B, "K-orphan")
    return f.all


#: What a person reading the targets expects to flip, (complaint, deadline, cycle, before, after).
EXPECTED_FLIPS = {
    ("K-inside", "first_response", 0, "in_time", "breached"),
    ("K-edge", "first_response", 0, "in_time", "breached"),
    ("K-edge", "resolution", 0, "in_time", "breached"),
    ("K-escalated", "first_response", 0, "in_time", "breached"),
    ("K-escalated", "resolution", 0, "in_time", "breached"),
    ("K-reopened", "resolution", 1, "in_time", "breached"),
    ("K-open", "first_response", 0, "in_time", "breached"),
    ("K-open", "resolution", 0, "pending", "breached"),
}


# --- the plain loop ------------------------------------------------------------------------

def plain_complaints(facts: list[ReportedFact], book: PolicyBook) -> dict[tuple[str, str], Complaint]:
    """Each complaint folded from its facts in event-time order, with the live rules."""
    by_complaint = defaultdict(list)
    for f in facts:
        by_complaint[(f.customer_id, f.data["complaint_id"])].append(f)
    folded = {}
    for key, complaint_facts in by_complaint.items():
        complaints: dict[str, Complaint] = {}
        for f in sorted(complaint_facts, key=lambda f: f.occurred_at):
            record_complaint_fact(complaints, f, book)  # type: ignore[arg-type]
        if complaints:
            folded[key] = complaints[key[1]]
    return folded


def plain_status(d: Deadline, as_of: datetime) -> str:
    if d.met_at is not None:
        return "in_time" if d.met_at <= d.due else "breached"
    horizon = min(as_of, d.paused_at) if d.paused_at else as_of
    if d.due <= horizon:
        return "breached"
    return "at_risk" if d.at_risk <= horizon else "pending"


def plain_flips(facts: list[ReportedFact], current: PolicyBook, candidate: PolicyBook,
                as_of: datetime) -> set[tuple[str, str, int, str, str]]:
    before, after = plain_complaints(facts, current), plain_complaints(facts, candidate)
    flips = set()
    for key, old in before.items():
        for d_old, d_new in zip(old.deadlines, after[key].deadlines, strict=True):
            was, now = plain_status(d_old, as_of), plain_status(d_new, as_of)
            if was != now:
                flips.add((key[1], d_old.name, d_old.cycle, was, now))
    return flips


def plain_counts(facts: list[ReportedFact], book: PolicyBook, as_of: datetime) -> Counter:
    counts: Counter = Counter()
    for complaint in plain_complaints(facts, book).values():
        for verdict in complaint.verdicts(as_of):
            counts[(complaint.category or "none", complaint.priority, verdict.kind)] += 1
    return counts


def flips_of(summary: dict[str, Any]) -> set[tuple[str, str, int, str, str]]:
    return {(f["complaint_id"], f["deadline"], f["cycle"], f["before"], f["after"])
            for f in summary["flips"]}


def counts_of(summary: dict[str, Any], side: str) -> Counter:
    counts: Counter = Counter()
    for row in summary["by_category_priority"]:
        for kind, column in (("breach", "breaches"), ("at_risk", "at_risk")):
            if row[f"{column}_{side}"]:
                counts[(row["category"], row["priority"], kind)] = row[f"{column}_{side}"]
    return counts


# --- the tests -----------------------------------------------------------------------------

def test_tighter_urgent_targets_flip_exactly_the_complaints_a_plain_loop_says(desk: Desk) -> None:
    facts = edge_complaints()
    desk.record(*facts)
    candidate = parse_policy_book(TIGHTER_URGENT)
    result = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=AS_OF, batch_size=7)
    summary = result.as_dict()

    expected = plain_flips(facts, DEFAULT_POLICY_BOOK, candidate, AS_OF)
    assert expected == EXPECTED_FLIPS  # the plain loop agrees with reading the targets
    assert flips_of(summary) == expected
    assert (summary["flipped"], summary["flipped_complaints"]) == (8, 5)
    assert counts_of(summary, "before") == plain_counts(facts, DEFAULT_POLICY_BOOK, AS_OF)
    assert counts_of(summary, "after") == plain_counts(facts, candidate, AS_OF)
    assert summary["totals"]["complaints"] == 11 and summary["unjudged"] == 1
    assert summary["totals"]["breaches_after"] - summary["totals"]["breaches_before"] == 8

    inside = next(f for f in summary["flips"] if f["complaint_id"] == "K-inside")
    assert inside["explanation"] == (
        f"first response due {B + 30 * M:%Y-%m-%d %H:%M} UTC (candidate) or "
        f"{B + H:%Y-%m-%d %H:%M} UTC (current), answered {B + 50 * M:%Y-%m-%d %H:%M} UTC: "
        "breached under the candidate policy, in time under the current one")
    assert (inside["customer_id"], inside["category"], inside["priority"]) == ("C-1", "delivery", "urgent")
    assert (inside["policy_before"], inside["policy_after"]) == ("default", "tighter-urgent")
    still_open = next(f for f in summary["flips"] if f["complaint_id"] == "K-open"
                      and f["deadline"] == "resolution")
    assert still_open["explanation"].endswith(
        f"unresolved as of {AS_OF:%Y-%m-%d %H:%M} UTC: breached under the candidate policy, "
        "pending under the current one")
    assert still_open["due_after"] == (NOW - 2 * H).isoformat()
    # The escalated complaint counts under the priority its deadlines were set by.
    assert {f["priority"] for f in summary["flips"] if f["complaint_id"] == "K-escalated"} == {"urgent"}


def test_opening_window_and_as_of_bound_what_is_judged(desk: Desk) -> None:
    facts = edge_complaints()
    desk.record(*facts)
    candidate = parse_policy_book(TIGHTER_URGENT)
    recent = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=AS_OF,
                         window=OpeningWindow(since=NOW - 12 * H)).as_dict()
    assert recent["totals"]["complaints"] == 2  # K-open and K-paused
    assert flips_of(recent) == {f for f in EXPECTED_FLIPS if f[0] == "K-open"}
    settled = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=AS_OF,
                          window=OpeningWindow.parse(None, (B - timedelta(days=1)).date().isoformat()))
    assert settled.totals.complaints == 0
    # As of the moment K-inside was opened plus 40 minutes, nothing of it had happened yet.
    early = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=B + 40 * M).as_dict()
    first = {(f["complaint_id"], f["deadline"]): (f["before"], f["after"]) for f in early["flips"]}
    assert first[("K-inside", "first_response")] == ("pending", "breached")
    with pytest.raises(ValueError, match="not after"):
        OpeningWindow.parse("2026-06-02", "2026-06-01")


def test_apply_to_open_judges_complaints_open_at_the_switch_by_the_new_targets(desk: Desk) -> None:
    switch = NOW - 2 * timedelta(days=1)
    f = Facts()
    # Open at the switch: answered before it (kept), resolved after the new due.
    f("opened", switch - H, "K-across", priority="urgent")
    f("responded", switch - 50 * M, "K-across")
    f("resolved", switch + 4 * H, "K-across")  # old due switch + 7 h; new switch + 3 h
    # Breached before the switch (kept); its resolution would be overdue: due at the switch.
    f("opened", switch - 6 * H, "K-overdue", priority="urgent")
    f("resolved", switch + H, "K-overdue")
    # Resolved before the switch: the old policy throughout.
    f("opened", switch - 3 * H, "K-settled", priority="urgent")
    f("responded", switch - 2 * H, "K-settled")
    f("resolved", switch - H, "K-settled")
    # Opened after the switch: the new policy by its opening, with or without the option.
    f("opened", switch + H, "K-new", priority="urgent")
    f("responded", switch + H + 50 * M, "K-new")
    f("resolved", switch + 2 * H, "K-new")
    # Normal priority, open across the switch: the same targets.
    f("opened", switch - H, "K-normal", priority="normal")
    f("responded", switch + 20 * H, "K-normal")
    desk.record(*f.all)
    candidate = parse_policy_book(tighter_from(switch))

    by_opening = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=AS_OF).as_dict()
    assert flips_of(by_opening) == {("K-new", "first_response", 0, "in_time", "breached")}
    assert flips_of(by_opening) == plain_flips(f.all, DEFAULT_POLICY_BOOK, candidate, AS_OF)

    taken_over = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, candidate, as_of=AS_OF,
                             apply_to_open=True).as_dict()
    assert taken_over["apply_to_open"] is True
    assert flips_of(taken_over) == {
        ("K-new", "first_response", 0, "in_time", "breached"),
        ("K-across", "resolution", 0, "in_time", "breached"),
        ("K-overdue", "resolution", 0, "in_time", "breached"),
    }
    due = {(x["complaint_id"], x["deadline"]): x["due_after"] for x in taken_over["flips"]}
    assert due[("K-across", "resolution")] == (switch + 3 * H).isoformat()  # as if from opening
    assert due[("K-overdue", "resolution")] == switch.isoformat()  # never before the switch
    across = next(x for x in taken_over["flips"] if x["complaint_id"] == "K-across")
    assert (across["policy_before"], across["policy_after"]) == ("default", "tighter-urgent")


def alerts_and_outbox(desk: Desk) -> tuple[list[dict], list[dict], list[dict]]:
    with desk.views.read() as db:
        found = []
        for table in ("alerts", "alert_outbox", "complaint_clocks"):
            db.execute(f"SELECT * FROM {desk.views.table(table)} ORDER BY 1")
            found.append([dict(row) for row in db.fetchall()])
    return found[0], found[1], found[2]


def test_nothing_is_published_or_raised(desk: Desk) -> None:
    desk.record(*edge_complaints())
    before = alerts_and_outbox(desk)
    assert before[0] and before[1]  # the live engine raised and queued its own alerts
    position = desk.history.recorder.max_notification_id()
    result = sla_what_if(desk.history, DEFAULT_POLICY_BOOK, parse_policy_book(TIGHTER_URGENT),
                         as_of=AS_OF, apply_to_open=True)
    assert result.flips and result.as_dict()["published"] is False
    answer = desk.client.post("/admin/sla/what-if", content=TIGHTER_URGENT,
                              headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.text
    desk.projector.catch_up()
    assert alerts_and_outbox(desk) == before
    assert desk.history.recorder.max_notification_id() == position  # no fact recorded either


def cli(store: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", "sla", "what-if", *args],
                          env={**os.environ, **store}, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_command_prints_the_table_and_the_flips(desk: Desk, store: dict[str, str],
                                                    tmp_path: Path) -> None:
    desk.record(*edge_complaints())
    policy = tmp_path / "candidate.toml"
    policy.write_text(TIGHTER_URGENT)
    shown = cli(store, "--policy", str(policy), "--as-of", AS_OF.isoformat())
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"SLA what-if as of {AS_OF:%Y-%m-%d %H:%M} UTC: 11 complaints (whenever opened)"
    assert "current policies: default; candidate: tighter-urgent" in lines
    row = next(line.split() for line in lines if line.startswith("delivery") and "urgent" in line)
    assert row == ["delivery", "urgent", "4", "0", "5", "+5", "2", "5", "+3"]
    assert "deadline verdicts that flip: 8 in 5 complaints" in lines
    assert any(line.startswith("  K-inside of C-1 (delivery, urgent): first response due ")
               and line.endswith("breached under the candidate policy, in time under the "
                                 "current one") for line in lines)
    assert lines[-1] == "A preview: nothing was written, no alert raised, nothing published."
    assert "sla what-if" in shown.stderr  # the progress bar

    as_json = cli(store, "--policy", str(policy), "--as-of", AS_OF.isoformat(), "--json",
                  "--since", (NOW - timedelta(days=1)).date().isoformat())
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    assert summary["totals"]["complaints"] == 2
    assert flips_of(summary) == {f for f in EXPECTED_FLIPS if f[0] == "K-open"}


def test_a_bad_policy_file_is_named_with_exit_code_2(store: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "candidate.toml"
    policy.write_text(TIGHTER_URGENT.replace("first_response = 0.5", "first_response = -1"))
    refused = cli(store, "--policy", str(policy))
    assert refused.returncode == 2
    assert f"candidate SLA policy {policy}: policies.0.targets.urgent.first_response" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    missing = cli(store, "--policy", str(tmp_path / "nowhere.toml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_admin_endpoint_answers_the_summary(desk: Desk) -> None:
    facts = edge_complaints()
    desk.record(*facts)
    answer = desk.client.post("/admin/sla/what-if", content=TIGHTER_URGENT,
                              params={"as_of": AS_OF.isoformat(), "limit": 3},
                              headers={"Content-Type": "application/toml"})
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["flipped"] == 8 and len(summary["flips"]) == 3
    assert flips_of(summary) <= EXPECTED_FLIPS
    full = desk.client.post("/admin/sla/what-if", content=TIGHTER_URGENT,
                            params={"as_of": AS_OF.isoformat(), "since": B.date().isoformat(),
                                    "until": NOW.date().isoformat()},
                            headers={"Content-Type": "text/plain; charset=utf-8"}).json()
    assert flips_of(full) == EXPECTED_FLIPS
    assert full["window"]["until"] == (datetime.combine(NOW.date(), datetime.min.time(), UTC)
                                       + timedelta(days=1)).isoformat()

    bad = desk.client.post("/admin/sla/what-if", content='[[policies]]\nversion = "x"\n',
                           headers={"Content-Type": "text/plain"})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("candidate SLA policy: policies.0.effective_from")
    not_toml = desk.client.post("/admin/sla/what-if", content="x = [",
                                headers={"Content-Type": "text/plain"})
    assert not_toml.status_code == 400 and "not valid TOML" in not_toml.json()["detail"]
    assert desk.client.post("/admin/sla/what-if", json={"policies": []}).status_code == 415
    assert desk.client.post("/admin/sla/what-if", content=TIGHTER_URGENT, params={"since": "soon"},
                            headers={"Content-Type": "text/plain"}).status_code == 422

    keys = desk.client.app.state.keys
    for role in ("agent", "ingest"):
        other = TestClient(desk.client.app, headers={"X-API-Key": keys.create(f"a {role}", role)})
        refused = other.post("/admin/sla/what-if", content=TIGHTER_URGENT,
                             headers={"Content-Type": "text/plain"})
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
