"""How each deadline of one complaint ends under a policy book, in words an agent can repeat.

The SLA what-if (``domain/sla_whatif.py``) judges every complaint twice, under the
deployment's policy book and under a candidate, with the live engine's own rules
(``record_complaint_fact``, ``Complaint.verdicts``), so the two answers differ only
by the policy. A deadline ends *in time* (met by its due), *breached* (met late, or
passed unmet), *at risk* (unmet, past its at-risk moment) or *pending* (unmet, not yet
at risk, or its clock paused before that).

A book's policies with ``applies_to_open`` take over the complaints still open when
they come into force, in the live engine as here (``domain/sla_takeover.py``);
``takeover=True`` previews every later policy of the book doing so. A complaint still
open when a later policy comes into force (its ``effective_from``, *S*) is then judged
from *S* on by that policy:

* its deadlines are those the later policy would have set had it been in force since
  the opening (its calendar, targets and at-risk share, with the same escalations,
  pauses and reopenings), but no moment falls before *S*: a due or at-risk moment that
  would already have passed falls at *S*;
* what already happened under the old policy stays: a deadline met by *S* keeps its
  verdict, and a due or at-risk moment that had passed unmet by *S* stays where it was.

A complaint resolved by *S* keeps its opening policy throughout (a reopening after *S*
included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.complaints import Complaint, record_complaint_fact
from domain.sla_policy import PolicyBook
from domain.sla_standing import StandingFold

IN_TIME, BREACHED, AT_RISK, PENDING = "in_time", "breached", "at_risk", "pending"
_WORDS = {IN_TIME: "in time", BREACHED: "breached", AT_RISK: "at risk", PENDING: "pending"}
_OPENED = "crm.complaint.opened"


@dataclass(frozen=True, slots=True)
class ComplaintStep:
    """One complaint fact, reduced to what the SLA rules read (no personal field):
    ``seq`` is its place in the store, which orders facts of the same moment."""

    complaint_id: str
    event_type: str
    occurred_at: datetime
    seq: int
    priority: str | None = None
    category: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        """What ``record_complaint_fact`` reads of a fact's data."""
        return {"complaint_id": self.complaint_id, "priority": self.priority,
                "category": self.category}


def moment(at: datetime) -> str:
    """A moment as the verdicts say it: UTC, to the minute (to the second if it has one)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if at.second else "%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class DeadlineVerdict:
    """How one deadline (first response, or the resolution of one cycle) ends as of ``as_of``."""

    deadline: str  # "first_response" or "resolution"
    cycle: int  # 0, then one more per reopening (resolution only)
    status: str  # IN_TIME, BREACHED, AT_RISK or PENDING
    due: datetime
    at_risk_from: datetime
    met_at: datetime | None
    warned: bool  # its at-risk moment passed unmet: an at-risk alert
    paused_at: datetime | None
    as_of: datetime

    @property
    def key(self) -> tuple[str, int]:
        return self.deadline, self.cycle

    @property
    def label(self) -> str:
        if self.deadline == "first_response":
            return "first response"
        return "resolution" if self.cycle == 0 else f"resolution after reopening {self.cycle}"

    @property
    def outcome(self) -> str:
        """What happened to it, without the verdict: "answered 2026-06-01 15:10 UTC"."""
        if self.met_at is not None:
            verb = "answered" if self.deadline == "first_response" else "resolved"
            return f"{verb} {moment(self.met_at)}"
        if self.paused_at is not None:
            return f"paused since {moment(self.paused_at)}"
        verb = "unanswered" if self.deadline == "first_response" else "unresolved"
        return f"{verb} as of {moment(self.as_of)}"

    @property
    def verdict(self) -> str:
        return _WORDS[self.status]

    def words(self) -> str:
        """"first response due 2026-06-01 14:00 UTC, answered 2026-06-01 15:10 UTC: breached"."""
        return f"{self.label} due {moment(self.due)}, {self.outcome}: {self.verdict}"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "due": self.due.isoformat(),
                "at_risk_from": self.at_risk_from.isoformat(),
                "met_at": self.met_at.isoformat() if self.met_at else None,
                "at_risk_alert": self.warned}


@dataclass(frozen=True)
class ComplaintVerdict:
    """A complaint's deadlines under one policy book, as of ``as_of``."""

    complaint_id: str
    customer_id: str
    category: str | None
    priority: str  # as its deadlines were last set (after escalations), as alerts carry it
    opened_priority: str
    opened_at: datetime
    policy: str  # the version that judged it last (a takeover's, if one did)
    is_open: bool
    deadlines: tuple[DeadlineVerdict, ...]

    @property
    def breaches(self) -> int:
        return sum(d.status == BREACHED for d in self.deadlines)

    @property
    def at_risk(self) -> int:
        """At-risk alerts the policy raises (a breached deadline was at risk first)."""
        return sum(d.warned for d in self.deadlines)


def ordered(steps: Sequence[ComplaintStep], as_of: datetime) -> list[ComplaintStep]:
    """Event-time order, ties in store order; what happens after ``as_of`` is not known yet."""
    return sorted((s for s in steps if s.occurred_at <= as_of), key=lambda s: (s.occurred_at, s.seq))


def _fold(steps: Sequence[ComplaintStep], book: PolicyBook,
          standing: StandingFold | None = None) -> Complaint | None:
    """The complaint as the live rules fold it under ``book``."""
    complaints: dict[str, Complaint] = {}
    for step in steps:
        record_complaint_fact(complaints, step, book, standing)  # type: ignore[arg-type]
    return next(iter(complaints.values()), None)


def judge(customer_id: str, steps: Sequence[ComplaintStep], book: PolicyBook, as_of: datetime,
          *, takeover: bool = False,
          standing: StandingFold | None = None) -> ComplaintVerdict | None:
    """The complaint's verdicts under ``book`` as of ``as_of`` (None before its opening);
    with ``takeover``, as if every later policy of the book had ``applies_to_open``;
    ``standing``: the customer's, when a book targets segments or tiers."""
    steps = ordered(steps, as_of)
    opening = next((s for s in steps if s.event_type == _OPENED), None)
    if opening is None:
        return None
    # A policy not yet in force by ``as_of`` takes nothing over yet.
    known = (book.applied_to_open() if takeover else book).until(as_of)
    complaint = _fold(steps, known, standing)
    if complaint is None:
        return None
    return ComplaintVerdict(
        complaint.complaint_id, customer_id, complaint.category, complaint.priority,
        opening.priority or complaint.priority, complaint.opened_at, complaint.policy.version,
        complaint.is_open, tuple(_deadline_verdicts(complaint, as_of)),
    )


def _deadline_verdicts(complaint: Complaint, as_of: datetime) -> list[DeadlineVerdict]:
    """Each deadline's ending, from the live engine's verdicts (``Complaint.verdicts``)."""
    found = {(v.deadline, v.cycle, v.kind) for v in complaint.verdicts(as_of)}
    verdicts = []
    for d in complaint.deadlines:
        if (d.name, d.cycle, "breach") in found:
            status = BREACHED
        elif d.met_at is not None:
            status = IN_TIME
        elif (d.name, d.cycle, "at_risk") in found:
            status = AT_RISK
        else:
            status = PENDING
        verdicts.append(DeadlineVerdict(d.name, d.cycle, status, d.due, d.at_risk, d.met_at,
                                        (d.name, d.cycle, "at_risk") in found, d.paused_at,
                                        as_of))
    return verdicts
