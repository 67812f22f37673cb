"""SLA deadline arithmetic and complaint verdicts, on 24x7 and business-hour calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendars import AlwaysOpen, BusinessHours
from domain.complaints import Complaint
from domain.sla_policy import SlaPolicy, Targets

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {day: ((time(9), time(17)),) for day in range(5)}  # Mon-Fri 09:00-17:00
EVERY_DAY = {day: ((time(9), time(17)),) for day in range(7)}
H = timedelta(hours=1)


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def office(holidays: tuple[date, ...] = (), weekly=OFFICE) -> BusinessHours:
    return BusinessHours(BERLIN, weekly, frozenset(holidays))


def policy(calendar=None, **targets: tuple[float, float]) -> SlaPolicy:
    base = SlaPolicy(effective_from=datetime(2020, 1, 1, tzinfo=UTC), calendar=calendar or AlwaysOpen())
    if not targets:
        return base
    return SlaPolicy(base.effective_from, base.calendar,
                     {p: Targets(timedelta(hours=f), timedelta(hours=r)) for p, (f, r) in targets.items()})


def test_friday_afternoon_plus_four_business_hours_is_monday_midday() -> None:
    assert office().add(berlin(2026, 11, 20, 16, 30), 4 * H) == berlin(2026, 11, 23, 12, 30)


def test_before_opening_the_clock_starts_at_opening() -> None:
    assert office().add(berlin(2026, 11, 23, 6, 0), 1 * H) == berlin(2026, 11, 23, 10, 0)
    assert office().between(berlin(2026, 11, 21, 10), berlin(2026, 11, 23, 10)) == 1 * H


def test_a_holiday_before_a_weekend_is_skipped() -> None:
    christmas = office(holidays=(date(2026, 12, 25),))
    assert christmas.add(berlin(2026, 12, 24, 16), 4 * H) == berlin(2026, 12, 28, 12)


def test_24x7_across_daylight_saving_counts_real_hours() -> None:
    opened = berlin(2026, 10, 24, 12)  # CEST, UTC+2; clocks go back on the 25th at 03:00
    due = AlwaysOpen().add(opened, 24 * H)
    assert due == opened.astimezone(UTC) + 24 * H  # (Berlin + 24 h would add wall-clock hours)
    assert due.astimezone(BERLIN).hour == 11  # 24 real hours later the wall clock shows 11:00


def test_business_hours_keep_their_wall_clock_across_daylight_saving() -> None:
    cal = office(weekly=EVERY_DAY)
    # Sat 12-17 (5) + Sun 09-17 (8, now CET) + Mon (8) + Tue 09-12 (3) = 24
    assert cal.add(berlin(2026, 10, 24, 12), 24 * H) == berlin(2026, 10, 27, 12)
    assert berlin(2026, 10, 27, 12).utcoffset() == timedelta(hours=1)


def test_open_hours_spanning_the_change_count_the_extra_hour() -> None:
    night = BusinessHours(BERLIN, {6: ((time(0), time(6)),)})  # Sundays 00:00-06:00
    assert night.between(berlin(2026, 10, 24, 23), berlin(2026, 10, 26, 0)) == 7 * H
    assert night.between(berlin(2026, 3, 28, 23), berlin(2026, 3, 30, 0)) == 5 * H  # spring


def test_a_calendar_without_open_hours_is_rejected() -> None:
    with pytest.raises(ValueError, match="no open hours"):
        BusinessHours(BERLIN, {})
    with pytest.raises(ValueError, match="closes before it opens"):
        BusinessHours(BERLIN, {0: ((time(17), time(9)),)})


T = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def kinds(complaint: Complaint, as_of: datetime) -> list[tuple[str, str, int]]:
    return [(v.deadline, v.kind, v.cycle) for v in complaint.verdicts(as_of)]


def test_a_complaint_with_no_event_goes_at_risk_then_breaches() -> None:
    c = Complaint("K", "high", T, policy())  # 4 h first response, 24 h resolution
    assert kinds(c, T + 3 * H) == []
    assert kinds(c, T + 3.2 * H) == [("first_response", "at_risk", 0)]  # 80% of 4 h
    assert kinds(c, T + 4 * H) == [("first_response", "at_risk", 0), ("first_response", "breach", 0)]
    assert c.next_moment(T + 4 * H) == T + 19.2 * H  # resolution at risk
    assert ("resolution", "breach", 0) in kinds(c, T + 24 * H)


def test_answered_in_time_no_breach_answered_late_a_breach() -> None:
    in_time = Complaint("K", "high", T, policy())
    in_time.respond(T + 3 * H)
    in_time.resolve(T + 10 * H)
    assert kinds(in_time, T + 100 * H) == []
    late = Complaint("K", "high", T, policy())
    late.respond(T + 5 * H)
    late.resolve(T + 30 * H)
    assert [k for k in kinds(late, T + 100 * H) if k[1] == "breach"] == [
        ("first_response", "breach", 0), ("resolution", "breach", 0)]
    assert late.next_moment(T + 30 * H) is None


def test_escalation_tightens_the_targets_from_then_on() -> None:
    c = Complaint("K", "normal", T, policy())
    c.escalate(T + 1 * H, "urgent")  # 1 h / 8 h from the escalation
    first, resolution = c.deadlines
    assert (first.due, resolution.due) == (T + 2 * H, T + 9 * H)
    c.escalate(T + 2 * H, "low")  # lowering the priority never loosens a deadline
    assert (c.priority, first.due) == ("urgent", T + 2 * H)


def test_reopen_starts_a_new_resolution_target_from_the_reopen_time() -> None:
    c = Complaint("K", "normal", T, policy())
    c.respond(T + 1 * H)
    c.resolve(T + 10 * H)
    c.reopen(T + 100 * H)
    assert c.deadlines[-1].due == T + 172 * H and c.deadlines[-1].cycle == 1
    assert kinds(c, T + 171 * H) == [("resolution", "at_risk", 1)]
    assert kinds(c, T + 172 * H)[-1] == ("resolution", "breach", 1)


def test_a_pause_over_a_weekend_moves_the_deadline_by_the_paused_business_time() -> None:
    c = Complaint("K", "high", berlin(2026, 11, 20, 10), policy(office()))  # Friday 10:00
    assert c.deadlines[1].due == berlin(2026, 11, 25, 10)  # 7 + 8 + 8 + 1 business hours
    c.pause(berlin(2026, 11, 20, 15))
    assert kinds(c, berlin(2026, 11, 30, 9)) == [  # long after: only first response breached
        ("first_response", "at_risk", 0), ("first_response", "breach", 0)]
    c.resume(berlin(2026, 11, 23, 11))  # Monday: 2 h paused on Friday, 2 h on Monday
    assert c.deadlines[1].due == berlin(2026, 11, 25, 14)


def test_two_pauses_add_up_and_the_first_response_clock_never_pauses() -> None:
    c = Complaint("K", "normal", T, policy())
    c.pause(T + 10 * H)
    c.resume(T + 20 * H)
    c.pause(T + 30 * H)
    c.resume(T + 35 * H)
    first, resolution = c.deadlines
    assert (first.due, resolution.due) == (T + 24 * H, T + 87 * H)
    assert kinds(c, T + 24 * H)[-1] == ("first_response", "breach", 0)


def test_category_overrides_and_policy_versions() -> None:
    from domain.sla_policy import PolicyBook

    billing = {"billing": {"high": Targets(2 * H, 6 * H)}}
    old = SlaPolicy(datetime(2020, 1, 1, tzinfo=UTC), version="v1")
    new = SlaPolicy(T, categories=billing, version="v2")
    book = PolicyBook([new, old])
    assert book.policy_for(T - H).version == "v1"
    assert book.policy_for(T).targets_for("high", "billing") == Targets(2 * H, 6 * H)
    assert book.policy_for(T).targets_for("high", "delivery") == Targets(4 * H, 24 * H)
