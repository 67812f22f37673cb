"""SLA what-if: every complaint judged under the current policy book and a candidate.

Before a new policy book is deployed, an operator wants to know what it would have
judged (SPEC §4, "a replay can show what the new policy would have judged"): the
breaches and at-risk alerts before and after, by category and priority, and each
deadline whose verdict flips, explained in words. Both sides are judged as of the same
moment ``as_of`` with the same rules (``domain/sla_verdicts.py``); the complaints keep
the policy in force when they were opened, except where a policy has ``applies_to_open``
(as in the live engine). ``apply_to_open`` previews the candidate as if every later
policy of it had that option (the *before* side is the deployment's book as it is).

Pure: given the complaints' facts, no store, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from domain.sla_policy import PolicyBook
from domain.sla_standing import StandingFold
from domain.sla_verdicts import ComplaintStep, ComplaintVerdict, DeadlineVerdict, judge, moment

NO_CATEGORY = "none"


@dataclass
class ComplaintRecord:
    """One complaint's facts as the what-if keeps them: only what the SLA rules read."""

    customer_id: str
    complaint_id: str
    steps: list[ComplaintStep] = field(default_factory=list)
    #: The customer's segment and tier facts, when either book targets them (shared by
    #: the customer's complaints).
    standing: StandingFold | None = None


@dataclass(frozen=True)
class Flip:
    """A deadline whose verdict differs between the current book and the candidate."""

    complaint_id: str
    customer_id: str
    category: str | None
    priority: str
    opened_at: datetime
    policy_before: str
    policy_after: str
    before: DeadlineVerdict
    after: DeadlineVerdict

    def words(self) -> str:
        """"first response due 2026-06-01 14:00 UTC (candidate) or 15:30 UTC (current),
        answered 2026-06-01 15:10 UTC: breached under the candidate policy, in time under
        the current one"."""
        after, before = moment(self.after.due), moment(self.before.due)
        due = (f"due {after} under both" if after == before
               else f"due {after} (candidate) or {before} (current)")
        return (f"{self.after.label} {due}, {self.after.outcome}: {self.after.verdict} under "
                f"the candidate policy, {self.before.verdict} under the current one")

    def as_dict(self) -> dict[str, Any]:
        return {"complaint_id": self.complaint_id, "customer_id": self.customer_id,
                "category": self.category, "priority": self.priority,
                "opened_at": self.opened_at.isoformat(), "deadline": self.after.deadline,
                "cycle": self.after.cycle, "before": self.before.status,
                "after": self.after.status, "due_before": self.before.due.isoformat(),
                "due_after": self.after.due.isoformat(),
                "met_at": self.after.met_at.isoformat() if self.after.met_at else None,
                "policy_before": self.policy_before, "policy_after": self.policy_after,
                "explanation": self.words()}


@dataclass
class Tally:
    """Complaints of one category and priority, and their alerts under each book."""

    complaints: int = 0
    breaches_before: int = 0
    breaches_after: int = 0
    at_risk_before: int = 0
    at_risk_after: int = 0

    def add(self, before: ComplaintVerdict, after: ComplaintVerdict) -> None:
        self.complaints += 1
        self.breaches_before += before.breaches
        self.breaches_after += after.breaches
        self.at_risk_before += before.at_risk
        self.at_risk_after += after.at_risk

    def __iadd__(self, other: Tally) -> Tally:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


@dataclass
class WhatIf:
    """What the candidate book changes, as of ``as_of``."""

    as_of: datetime
    apply_to_open: bool
    current: Sequence[str]  # the policy versions of each book
    candidate: Sequence[str]
    by_group: dict[tuple[str, str], Tally] = field(default_factory=dict)
    flips: list[Flip] = field(default_factory=list)
    #: Complaints with follow-ups but no opening (as of ``as_of``): neither book judges them.
    unjudged: int = 0

    @property
    def totals(self) -> Tally:
        total = Tally()
        for tally in self.by_group.values():
            total += tally
        return total

    @property
    def flipped_complaints(self) -> int:
        return len({(f.customer_id, f.complaint_id) for f in self.flips})

    def add(self, before: ComplaintVerdict, after: ComplaintVerdict) -> None:
        group = (before.category or NO_CATEGORY, before.priority)
        self.by_group.setdefault(group, Tally()).add(before, after)
        policies = before.policy, after.policy
        for old, new in zip(before.deadlines, after.deadlines, strict=True):
            if old.status != new.status:
                self.flips.append(Flip(before.complaint_id, before.customer_id, before.category,
                                       before.priority, before.opened_at, *policies, old, new))

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready; ``limit``: at most that many flips listed (``flipped`` counts all)."""
        flips = self.flips if limit is None else self.flips[:limit]
        return {
            "as_of": self.as_of.isoformat(), "apply_to_open": self.apply_to_open,
            "current_policies": list(self.current), "candidate_policies": list(self.candidate),
            "totals": vars(self.totals),
            "by_category_priority": [{"category": c, "priority": p, **vars(t)}
                                     for (c, p), t in sorted(self.by_group.items())],
            "flipped": len(self.flips), "flipped_complaints": self.flipped_complaints,
            "flips": [f.as_dict() for f in flips], "unjudged": self.unjudged,
            "published": False,  # a preview: nothing is written, raised or published
        }


def what_if(complaints: Iterable[ComplaintRecord], current: PolicyBook, candidate: PolicyBook,
            as_of: datetime, *, apply_to_open: bool = False) -> WhatIf:
    """Judge each complaint under both books as of ``as_of``; flips in opening order."""
    result = WhatIf(as_of, apply_to_open, [p.version for p in current.policies],
                    [p.version for p in candidate.policies])
    for record in complaints:
        before = judge(record.customer_id, record.steps, current, as_of,
                       standing=record.standing)
        after = judge(record.customer_id, record.steps, candidate, as_of, takeover=apply_to_open,
                      standing=record.standing)
        if before is None or after is None:
            result.unjudged += 1
            continue
        result.add(before, after)
    result.flips.sort(key=lambda f: (f.opened_at, f.complaint_id, f.customer_id,
                                     f.after.deadline != "first_response", f.after.cycle))
    return result


def moment_or_day(text: str, *, end_of_day: bool = False) -> datetime:
    """``2026-06-01`` (that day in UTC: its start, or with ``end_of_day`` the next day's
    start) or an RFC 3339 moment (without an offset: UTC). ``ValueError`` otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a day (YYYY-MM-DD) nor a moment "
                         "(YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OpeningWindow:
    """Complaints opened from ``since`` (inclusive) to ``until`` (exclusive); None: open-ended."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.until <= self.since:
            raise ValueError(f"until ({moment(self.until)}, exclusive) is not after since "
                             f"({moment(self.since)})")

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> OpeningWindow:
        """From text (``moment_or_day``); ``until`` as a day includes that day."""
        return cls(moment_or_day(since) if since else None,
                   moment_or_day(until, end_of_day=True) if until else None)

    def holds(self, opened_at: datetime) -> bool:
        return ((self.since is None or opened_at >= self.since)
                and (self.until is None or opened_at < self.until))

    def describe(self) -> str:
        if self.since is None and self.until is None:
            return "whenever opened"
        return (f"opened {'from ' + moment(self.since) if self.since else ''}"
                f"{' ' if self.since and self.until else ''}"
                f"{'before ' + moment(self.until) if self.until else ''}")
