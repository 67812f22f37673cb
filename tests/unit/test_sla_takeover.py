"""A later SLA policy with ``applies_to_open`` taking over complaints still open at its start."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from domain.complaints import Complaint, record_complaint_fact
from domain.sla_policy import DEFAULT_TARGETS, PolicyBook, SlaPolicy, Targets
from service.sla_config import SlaConfigError, parse_policy_book

pytestmark = pytest.mark.unit

H, M = timedelta(hours=1), timedelta(minutes=1)
S = datetime(2026, 6, 1, 12, tzinfo=UTC)  # the new policy's effective_from
OLD = SlaPolicy(datetime(2020, 1, 1, tzinfo=UTC), version="old")
NEW = SlaPolicy(S, targets={**DEFAULT_TARGETS, "urgent": Targets(H / 2, 4 * H),  # tighter
                            "normal": Targets(24 * H, 100 * H)},  # looser
                version="new", applies_to_open=True)
TAKES_OVER = PolicyBook([OLD, NEW])
BY_OPENING = PolicyBook([OLD, replace(NEW, applies_to_open=False)])


def fold(book: PolicyBook, *facts: tuple[str, datetime, str] | tuple[str, datetime, str, str]
         ) -> dict[str, Complaint]:
    """(kind, at, complaint id[, priority]) facts in event-time order, through the live fold."""
    complaints: dict[str, Complaint] = {}
    for kind, at, complaint_id, *priority in facts:
        fact = SimpleNamespace(event_type=f"crm.complaint.{kind}", occurred_at=at,
                               data={"complaint_id": complaint_id,
                                     "priority": priority[0] if priority else None})
        record_complaint_fact(complaints, fact, book)  # type: ignore[arg-type]
    return complaints


FACTS = (
    ("opened", S - H, "K-open", "urgent"),
    ("responded", S - 50 * M, "K-open"),  # met before S: keeps its verdict
    ("opened", S - 6 * H, "K-overdue", "urgent"),  # unanswered: overdue since S - 5 h
    ("opened", S - 3 * H, "K-settled", "urgent"),
    ("resolved", S - H, "K-settled"),  # resolved before S: the old policy throughout
    ("opened", S - H, "K-normal", "normal"),
    ("reopened", S + H, "K-settled"),
    ("responded", S + 2 * H, "K-normal"),
)


def due(complaint: Complaint) -> list[datetime]:
    return [d.due for d in complaint.deadlines]


def test_a_complaint_open_at_the_switch_takes_the_new_deadlines_never_before_it() -> None:
    found = fold(TAKES_OVER, *FACTS)
    # Tighter: resolution as if under the new policy since the opening (S - 1 h + 4 h).
    assert due(found["K-open"]) == [S, S + 3 * H]
    assert found["K-open"].policy.version == "new"
    assert [v.deadline for v in found["K-open"].breaches(S + 5 * H)] == ["resolution"]
    # Would be overdue under the new targets: due at S; the first response passed unmet
    # before S stays where it was.
    overdue = found["K-overdue"]
    assert due(overdue) == [S - 5 * H, S]
    assert overdue.deadlines[1].at_risk == S
    # Looser: the normal resolution moves out to S - 1 h + 100 h.
    assert due(found["K-normal"]) == [S + 23 * H, S + 99 * H]


def test_a_deadline_met_by_the_switch_keeps_its_verdict() -> None:
    early = fold(TAKES_OVER, ("opened", S - H, "K-1", "urgent"), ("responded", S - 10 * M, "K-1"))
    first = early["K-1"].deadlines[0]
    assert (first.due, first.met_at) == (S, S - 10 * M)  # new due would be S - 30 min
    assert early["K-1"].breaches(S + H) == []


def test_a_complaint_resolved_by_the_switch_keeps_the_old_policy_reopening_included() -> None:
    settled = fold(TAKES_OVER, *FACTS)["K-settled"]
    assert settled.policy.version == "old"
    assert due(settled) == [S - 2 * H, S - 3 * H + 8 * H, S + H + 8 * H]


def test_without_the_option_open_complaints_keep_their_opening_policy() -> None:
    found = fold(BY_OPENING, *FACTS)
    assert due(found["K-open"]) == [S, S + 7 * H]
    assert due(found["K-overdue"]) == [S - 5 * H, S + 2 * H]
    assert due(found["K-normal"]) == [S + 23 * H, S + 71 * H]
    assert {c.policy.version for c in found.values()} == {"old"}


def test_before_the_switch_a_complaint_is_taken_as_open_then_until_a_fact_says_otherwise() -> None:
    opened = ("opened", S - H, "K-1", "urgent")
    waiting = fold(TAKES_OVER, opened)["K-1"]
    assert due(waiting) == [S, S + 3 * H]  # the clock wakes at the new moments
    assert waiting.verdicts(S - M) == fold(BY_OPENING, opened)["K-1"].verdicts(S - M)
    resolved = fold(TAKES_OVER, opened, ("resolved", S - M, "K-1"))["K-1"]
    assert due(resolved) == [S, S + 7 * H] and resolved.policy.version == "old"


def test_the_policy_file_option_is_a_boolean_off_by_default_and_not_on_the_earliest() -> None:
    text = ("[[policies]]\nversion='a'\neffective_from=2020-01-01T00:00:00Z\n{first}"
            "[[policies]]\nversion='b'\neffective_from=2026-06-01T12:00:00Z\n{second}")
    book = parse_policy_book(text.format(first="", second="applies_to_open = true\n"))
    assert [p.applies_to_open for p in book.policies] == [False, True]
    assert not any(p.applies_to_open for p in parse_policy_book(
        text.format(first="", second="")).policies)
    with pytest.raises(SlaConfigError, match="policies.1.applies_to_open"):
        parse_policy_book(text.format(first="", second="applies_to_open = 'yes'\n"))
    with pytest.raises(SlaConfigError, match=r"policies\[0\].applies_to_open: the earliest"):
        parse_policy_book(text.format(first="applies_to_open = true\n", second=""))
