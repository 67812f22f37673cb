"""A read model never stops for one fact: what it cannot apply is set aside, counted,
alerted and retryable, and it goes on with the next (issue 13)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from domain.facts import ReportedFact
from projections import replay, summaries
from projections.catalog import TIMELINE
from projections.runner import MAX_SET_ASIDE_IN_A_ROW, ProjectionFailed, Projector
from projections.set_aside import SetAsideBook
from service import bootstrap
from service.cli import main
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def contact(n: int, customer: str = "C-1") -> ReportedFact:
    return ReportedFact(f"e-{n}", "crm.contact.logged", "tests", customer, NOW,
                        {"channel": "phone", "direction": "inbound", "subject": f"call {n}"})


#: A complaint fact stored by an older version of the contract: no complaint id, no priority.
MISSHAPEN = ReportedFact("bad-1", "crm.complaint.opened", "tests", "C-1", NOW, {"summary": "?"})


def set_aside(desk: Desk) -> list[tuple[str, int, str]]:
    with desk.views.read() as db:
        return [(r["read_model"], r["position"], r["event_id"])
                for r in SetAsideBook(desk.views).listing(db)]


def at_the_end(desk: Desk) -> bool:
    end = desk.history.recorder.max_notification_id()
    return desk.projector.position == end


def counted(read_model: str) -> float:
    return REGISTRY.get_sample_value("crm_projection_facts_set_aside_total",
                                     {"read_model": read_model}) or 0.0


def test_a_fact_the_rules_cannot_take_is_set_aside_and_every_read_model_goes_on(
        desk: Desk, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = counted("customer360")
    desk.record(contact(1), MISSHAPEN, contact(2))

    assert at_the_end(desk)
    # The read models whose rules read a complaint's id; the timeline shows the fact as it is.
    faulted = ["customer360", "complaint_sla", "report:agent_performance",
               "report:complaint_sla_by_category"]
    assert sorted(set_aside(desk)) == sorted((name, 2, "bad-1") for name in faulted)
    assert counted("customer360") == before + 1
    view = desk.client.get("/customers/C-1").json()  # the two contacts, not the misshapen fact
    assert view["contacts"]["total"] == 2
    assert [e["event_id"] for e in desk.page()["entries"]] == ["e-2", "bad-1", "e-1"]
    alerts = desk.client.get("/alerts", params={"kind": "fact_set_aside"}).json()["alerts"]
    assert {(a["details"]["read_model"], a["details"]["position"]) for a in alerts} == {
        (name, 2) for name in faulted}
    assert "KeyError: 'complaint_id'" in alerts[0]["details"]["error"]

    ready = desk.client.get("/readyz")
    assert ready.status_code == 503
    assert [r for r in ready.json()["reasons"] if "set aside" in r] == [
        f"read model {name} has set aside 1 facts it could not apply (crm-timeline projections "
        "set-aside list; acknowledge with crm-timeline projections set-aside ack)"
        for name in sorted(faulted)]

    assert main(["projections", "set-aside", "ack"]) == 0
    assert capsys.readouterr().out == (
        "acknowledged 4 set-aside facts; /readyz no longer counts them\n")
    ready = desk.client.get("/readyz").json()
    assert not [r for r in ready.get("reasons", []) if "set aside" in r]
    assert ready["facts_set_aside"] == {}

    desk.record(contact(3))  # later facts of the same customer are not held up by it
    assert desk.client.get("/customers/C-1").json()["contacts"]["total"] == 3
    assert len(set_aside(desk)) == len(faulted)


def test_a_replay_sets_the_same_facts_aside_and_swaps_in(desk: Desk) -> None:
    desk.record(contact(1), MISSHAPEN, contact(2))
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    progress = replay.replay(catalog, ["customer360"])
    assert progress.state == "swapped"
    assert ("customer360@2", 2, "bad-1") in set_aside(desk)


def test_nul_in_a_stored_subject_is_set_aside_on_postgresql(pg_desk: Desk) -> None:
    """Validation refuses it now; a store written before that may hold one. PostgreSQL
    cannot put it in any text column, so each read model sets it aside (SQLite can)."""
    desk = pg_desk
    desk.record(contact(1), contact(2, customer="C-\x00"), contact(3))
    assert at_the_end(desk)
    escaped = {(name, position) for name, position, _ in set_aside(desk)}
    assert {("timeline", 2), ("customer360", 2)} <= escaped
    with desk.views.read() as db:
        (row, *_) = SetAsideBook(desk.views).listing(db)
    assert row["customer_id"] == "C-\\x00" and "NUL" in row["error"]
    assert [e["event_id"] for e in desk.page()["entries"]] == ["e-3", "e-1"]


def test_a_set_aside_fact_is_applied_again_after_the_fix(
        desk: Desk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = summaries.summarize

    def broken(event_type: str, data: dict) -> str:
        if data.get("subject") == "call 2":
            raise ValueError("cannot summarise call 2")
        return real(event_type, data)

    monkeypatch.setattr("projections.timeline.summarize", broken)
    desk.record(contact(1), contact(2), contact(3))
    assert set_aside(desk) == [(TIMELINE, 2, "e-2")]
    assert [e["event_id"] for e in desk.page()["entries"]] == ["e-3", "e-1"]

    assert main(["projections", "set-aside", "list"]) == 0
    listing = capsys.readouterr().out
    assert "timeline" in listing and "e-2" in listing and "cannot summarise call 2" in listing
    assert listing.splitlines()[-1] == "1 facts set aside (not acknowledged; --all shows every one)"

    monkeypatch.setattr("projections.timeline.summarize", real)  # the fix
    with desk.views.write() as db:
        assert SetAsideBook(desk.views).request_retry(db) == 1
    assert desk.projector.retry_set_aside() == (1, 0)
    assert set_aside(desk) == []
    assert [e["event_id"] for e in desk.page()["entries"]] == ["e-3", "e-2", "e-1"]


def test_a_read_model_failing_every_fact_is_paused_not_emptied(desk: Desk) -> None:
    """Bad facts are rare; a read model that fails fact after fact is itself broken: it sets
    a few aside, then waits, so a fix and a retry bring all back."""

    class Broken:
        name, topics = "broken", ()

        def create_tables(self, views: object) -> None:
            pass

        def apply(self, cursor: object, batch: list) -> None:
            if batch:
                raise KeyError("a field every fact lacks")

    projector = Projector(desk.history, desk.views, [Broken()], batch_size=50,
                          retry_seconds=30)
    desk.record(*(contact(n, customer=f"C-{n}") for n in range(30)))
    with pytest.raises(ProjectionFailed, match="broken"):
        projector.catch_up()
    assert len([r for r in set_aside(desk) if r[0] == "broken"]) == MAX_SET_ASIDE_IN_A_ROW
