"""Follow-up rules: opened by a promise, closed by the next contact, overdue just past due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.follow_ups import A_MOMENT, opened_by, overdue_alert

pytestmark = pytest.mark.unit

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WAIT = timedelta(hours=24)


def promise(**data: object):
    task = opened_by("C-1", "e-1", T, {"channel": "phone", "agent_id": "A-7",
                                       "outcome": "follow_up", **data}, WAIT)
    assert task is not None
    return task


def test_only_a_follow_up_outcome_opens_a_task() -> None:
    for outcome in ("resolved", "no_answer", None):
        assert opened_by("C-1", "e-1", T, {"outcome": outcome}, WAIT) is None
    assert promise().task_id == "follow_up:e-1"


def test_due_when_promised_else_the_configured_wait_after_the_contact() -> None:
    assert promise(follow_up_at="2026-06-01T15:30:00+02:00").due_at == T + timedelta(hours=1.5)
    assert promise(follow_up_at="2026-06-01T13:00:00Z").due_at == T + timedelta(hours=1)
    assert promise().due_at == T + WAIT  # absent: facts from before the field existed
    assert promise(follow_up_at=None).due_at == T + WAIT
    assert opened_by("C-1", "e-1", T, {"outcome": "follow_up"}, timedelta(hours=2)).due_at == (
        T + timedelta(hours=2))


def test_exactly_at_the_due_time_it_is_not_overdue_a_microsecond_later_it_is() -> None:
    task = promise(follow_up_at="2026-06-01T13:00:00+00:00")
    due = T + timedelta(hours=1)
    assert task.is_open(T) and not task.is_open(T - A_MOMENT)
    assert not task.is_overdue(due)
    assert task.is_overdue(due + A_MOMENT)
    assert not task.is_overdue(T - A_MOMENT)  # not open yet


def test_any_later_contact_closes_it_one_at_the_same_moment_does_not() -> None:
    task = promise()
    assert task.closed("e-2", T) == task
    assert task.closed("e-0", T - A_MOMENT) == task
    closed = task.closed("e-2", T + A_MOMENT)
    assert (closed.closed_at, closed.closed_by) == (T + A_MOMENT, "e-2")
    assert closed.is_open(T) and not closed.is_open(T + A_MOMENT)
    assert not closed.is_overdue(T + 2 * WAIT)


def test_a_contact_arriving_late_moves_the_closing_earlier_never_later() -> None:
    closed = promise().closed("e-3", T + timedelta(hours=5))
    earlier = closed.closed("e-2", T + timedelta(hours=2))
    assert (earlier.closed_at, earlier.closed_by) == (T + timedelta(hours=2), "e-2")
    assert earlier.closed("e-4", T + timedelta(hours=9)) == earlier


def test_closed_after_its_due_time_it_was_overdue_in_between() -> None:
    task = promise(follow_up_at="2026-06-01T13:00:00+00:00").closed("e-2", T + timedelta(hours=3))
    assert task.is_overdue(T + timedelta(hours=2))
    assert not task.is_overdue(T + timedelta(hours=3))


def test_the_overdue_alert_has_a_stable_id_and_the_missed_due_time() -> None:
    task = promise(follow_up_at="2026-06-01T13:00:00+00:00")
    alert = overdue_alert(task)
    assert alert == overdue_alert(task)
    assert (alert.alert_id, alert.kind, alert.customer_id) == (
        "follow_up:e-1:overdue", "follow_up_overdue", "C-1")
    assert alert.raised_at == T + timedelta(hours=1)
    assert alert.details["due"] == "2026-06-01T13:00:00+00:00"
