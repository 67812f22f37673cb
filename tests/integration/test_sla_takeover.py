"""A policy file's ``applies_to_open``, live: the SLA clock, the 360 and the what-if agree."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.facts import ReportedFact
from projections.catalog import COMPLAINT_SLA
from projections.complaint_sla import ComplaintSlaProjection
from projections.sla_whatif import sla_what_if
from service.sla_config import parse_policy_book
from tests.events import NOW
from tests.integration.conftest import desk_on
from tests.integration.test_sla_whatif import tighter_from

pytestmark = pytest.mark.integration

H, M = timedelta(hours=1), timedelta(minutes=1)
SWITCH = NOW - 2 * H


def book(applies_to_open: bool) -> str:
    """The SPEC defaults until ``SWITCH``, then tighter urgent targets."""
    return tighter_from(SWITCH, applies_to_open)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def complaint(n: int, kind: str, at: datetime, complaint_id: str, **data: Any) -> ReportedFact:
    return ReportedFact(f"k-{n}", f"crm.complaint.{kind}", "tests", "C-1", at,
                        {"complaint_id": complaint_id, **data})


FACTS = (
    # Open at the switch: answered before it (kept); resolution due opening + 4 h, not + 8 h.
    complaint(1, "opened", NOW - 3 * H, "K-open", priority="urgent"),
    complaint(2, "responded", NOW - 150 * M, "K-open"),
    # Resolved before the switch: the old policy, nothing to raise.
    complaint(3, "opened", NOW - 4 * H, "K-settled", priority="urgent"),
    complaint(4, "resolved", NOW - 210 * M, "K-settled"),
)


def test_a_policy_applied_to_open_complaints_moves_the_live_breach_to_its_due(
        store: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    policy_file = tmp_path / "sla-policy.toml"
    policy_file.write_text(book(applies_to_open=True))
    monkeypatch.setenv("CRM_SLA_POLICY_FILE", str(policy_file))
    with desk_on(store, monkeypatch) as desk:  # Desk(load_settings()), history closed after
        projection = desk.catalog.live(COMPLAINT_SLA)
        assert isinstance(projection, ComplaintSlaProjection)
        clock = Clock(NOW)
        projection.clock = clock
        desk.record(*FACTS)

        def alerts() -> list[tuple[str, str, str, str]]:
            found = desk.client.get("/alerts").json()["alerts"]
            return sorted((a["details"]["complaint_id"], a["kind"], a["details"]["deadline"],
                           a["details"]["due"]) for a in found)

        new_due = (NOW + H).isoformat()  # the old policy's would be NOW + 5 h
        assert alerts() == []
        projection.check_due(NOW + 15 * M)  # new at-risk moment: opening + 3.2 h
        assert alerts() == [("K-open", "sla_at_risk", "resolution", new_due)]
        projection.check_due(NOW + H - M)
        assert len(alerts()) == 1
        projection.check_due(NOW + H + timedelta(seconds=1))
        assert alerts() == [("K-open", "sla_at_risk", "resolution", new_due),
                            ("K-open", "sla_breach", "resolution", new_due)]
        as_of = NOW + 90 * M
        view = desk.client.get("/customers/C-1", params={"as_of": as_of.isoformat()}).json()
        assert view["flags"]["open_sla_breach"] is True and view["complaints"]["sla_breaches"] == 1

        # The what-if judges the same: against the book without the option, it flips what
        # the live engine raised; previewing that book applied to open complaints is this one.
        live, by_opening = parse_policy_book(book(True)), parse_policy_book(book(False))
        flips = sla_what_if(desk.history, by_opening, live, as_of=as_of).as_dict()["flips"]
        assert [(f["complaint_id"], f["deadline"], f["before"], f["after"], f["due_after"],
                 f["policy_after"]) for f in flips] == [
            ("K-open", "resolution", "pending", "breached", new_due, "tighter-urgent")]
        preview = sla_what_if(desk.history, live, by_opening, as_of=as_of, apply_to_open=True)
        assert preview.flips == [] and preview.totals.breaches_after == 1
