"""A complaint's lifecycle and its SLA verdicts (SPEC §4, Complaint SLA).

Two clocks run from the opening: first response and resolution, each with a
deadline in the policy's calendar and an at-risk moment at 80% of its target.
A deadline is breached when it passes unmet, whether or not any later event
arrives (``verdicts(as_of)`` finds it), and a late response or resolution is a
breach too. Escalation to a higher priority tightens open deadlines from the
escalation on. A reopened complaint starts a new resolution clock (a new
*cycle*) from the reopen time. A pause (waiting on the customer) stops the
resolution clock, never the first-response clock: on resume the deadline moves
by the paused business time. A later policy with ``applies_to_open`` takes over
a complaint still open when it comes into force (``domain/sla_takeover.py``):
``record_complaint_fact`` folds it under both, so every consumer sees the takeover.
Targets may depend on the customer's standing (segment, tier) at the opening
(``domain/sla_standing.py``): chosen then, and kept on escalation and reopening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.facts import CustomerFact
from domain.sla_policy import PRIORITIES, PolicyBook, SlaPolicy
from domain.sla_standing import NO_STANDING, Standing, StandingFold
from domain.sla_takeover import Takeover, TakeoverFolds


@dataclass(frozen=True)
class Verdict:
    """A breach or an at-risk moment of one deadline; ``alert_id`` is stable across replays."""

    complaint_id: str
    kind: str  # "breach" or "at_risk"
    deadline: str  # "first_response" or "resolution"
    cycle: int
    priority: str
    due: datetime
    at: datetime  # when it happened: the deadline, or the at-risk moment

    @property
    def alert_id(self) -> str:
        return f"sla:{self.complaint_id}:{self.deadline}:{self.cycle}:{self.kind}"


@dataclass
class Deadline:
    name: str
    cycle: int
    target: timedelta
    due: datetime
    at_risk: datetime
    met_at: datetime | None = None
    #: While paused: open time left until the due and at-risk moments.
    frozen: tuple[timedelta, timedelta] | None = None
    paused_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.met_at is None


@dataclass
class Complaint:
    complaint_id: str
    priority: str
    opened_at: datetime
    policy: SlaPolicy
    category: str | None = None
    resolved_at: datetime | None = None
    deadlines: list[Deadline] = field(default_factory=list)
    #: Set when a later policy may take it over: then its facts go to the folds, and
    #: this complaint shows their outcome.
    folds: TakeoverFolds | None = field(default=None, repr=False, compare=False)
    #: The customer's segment and tier at the opening, as the targets read them.
    standing: Standing = NO_STANDING

    def __post_init__(self) -> None:
        targets = self.policy.targets_for(self.priority, self.category, self.standing)
        self.deadlines.append(self._deadline("first_response", 0, self.opened_at, targets.first_response))
        self.deadlines.append(self._deadline("resolution", 0, self.opened_at, targets.resolution))

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def _deadline(self, name: str, cycle: int, start: datetime, target: timedelta) -> Deadline:
        calendar = self.policy.calendar
        return Deadline(
            name=name,
            cycle=cycle,
            target=target,
            due=calendar.add(start, target),
            at_risk=calendar.add(start, target * self.policy.at_risk_share),
        )

    def _current(self, name: str) -> Deadline:
        return [d for d in self.deadlines if d.name == name][-1]

    def respond(self, at: datetime) -> None:
        first = self._current("first_response")
        if first.open:
            first.met_at = at

    def escalate(self, at: datetime, priority: str | None) -> None:
        if priority not in PRIORITIES or PRIORITIES.index(priority) <= PRIORITIES.index(self.priority):
            return
        self.priority = priority
        targets = self.policy.targets_for(priority, self.category, self.standing)
        for deadline in self.deadlines:
            if not deadline.open or deadline.frozen is not None:
                continue
            tighter = self._deadline(
                deadline.name, deadline.cycle, at,
                targets.first_response if deadline.name == "first_response" else targets.resolution,
            )
            deadline.due = min(deadline.due, tighter.due)
            deadline.at_risk = min(deadline.at_risk, tighter.at_risk)

    def pause(self, at: datetime) -> None:
        resolution = self._current("resolution")
        if not self.is_open or resolution.frozen is not None:
            return
        calendar = self.policy.calendar
        resolution.frozen = (calendar.between(at, resolution.due),
                             calendar.between(at, resolution.at_risk))
        resolution.paused_at = at

    def resume(self, at: datetime) -> None:
        resolution = self._current("resolution")
        if resolution.frozen is None:
            return
        left_due, left_risk = resolution.frozen
        paused_at = resolution.paused_at
        assert paused_at is not None
        calendar = self.policy.calendar
        # Moments already passed before the pause stay where they were.
        if resolution.due > paused_at:
            resolution.due = calendar.add(at, left_due)
        if resolution.at_risk > paused_at:
            resolution.at_risk = calendar.add(at, left_risk)
        resolution.frozen = None
        resolution.paused_at = None

    def resolve(self, at: datetime) -> None:
        if not self.is_open:
            return
        self.resume(at)
        self.resolved_at = at
        self.respond(at)  # a resolution answers the customer too
        self._current("resolution").met_at = at

    def reopen(self, at: datetime) -> None:
        if self.is_open:
            return
        self.resolved_at = None
        cycle = self._current("resolution").cycle + 1
        target = self.policy.targets_for(self.priority, self.category, self.standing).resolution
        self.deadlines.append(self._deadline("resolution", cycle, at, target))

    def verdicts(self, as_of: datetime) -> list[Verdict]:
        """Breaches and at-risk moments that have happened by ``as_of``."""
        found = []
        for deadline in self.deadlines:
            # A paused clock cannot pass a moment after its pause.
            horizon = min(as_of, deadline.paused_at) if deadline.paused_at else as_of
            for kind, moment in (("at_risk", deadline.at_risk), ("breach", deadline.due)):
                missed = deadline.met_at is None or deadline.met_at > moment
                if missed and moment <= horizon:
                    found.append(Verdict(self.complaint_id, kind, deadline.name, deadline.cycle,
                                         self.priority, deadline.due, moment))
        return found

    def breaches(self, as_of: datetime) -> list[Verdict]:
        return [v for v in self.verdicts(as_of) if v.kind == "breach"]

    def next_moment(self, after: datetime) -> datetime | None:
        """The next moment after ``after`` at which a verdict happens unless an event comes.

        A deadline met late still has verdicts after ``after`` when it was judged
        early (while ingestion was behind); a paused clock's later moments move on
        resume, so they wait for the resume event.
        """
        moments = [
            moment
            for d in self.deadlines
            for moment in (d.at_risk, d.due)
            if moment > after
            and (d.met_at is None or d.met_at > moment)
            and (d.paused_at is None or moment <= d.paused_at)
        ]
        return min(moments, default=None)


def record_complaint_fact(
    complaints: dict[str, Complaint], fact: CustomerFact, book: PolicyBook,
    standing: StandingFold | None = None,
) -> None:
    """Apply one ``crm.complaint.*`` fact, in event-time order, to the complaints it names;
    ``standing``: the complaint's customer's, when the book targets segments or tiers."""
    data, at = fact.data, fact.occurred_at
    complaint_id = data["complaint_id"]
    if fact.event_type == "crm.complaint.opened":
        complaints[complaint_id] = _opened(
            complaint_id, data, at, book, standing.at(at) if standing else NO_STANDING)
        return
    complaint = complaints.get(complaint_id)
    if complaint is None:  # a follow-up whose opening is not (yet) known
        return
    if complaint.folds is None:
        _follow_up(complaint, fact)
        return
    complaint.folds.settle(at)
    for fold in complaint.folds.folds():
        _follow_up(fold, fact)
    complaint.folds.show(complaint)


def _opened(complaint_id: str, data: dict, at: datetime, book: PolicyBook,
            standing: Standing) -> Complaint:
    policy = book.policy_for(at)
    category = data.get("category")
    complaint = Complaint(complaint_id, data["priority"], at, policy, category, standing=standing)
    later = book.taking_over(policy, at)
    if later:
        complaint.folds = TakeoverFolds(
            Complaint(complaint_id, data["priority"], at, policy, category, standing=standing),
            [Takeover(p.effective_from, Complaint(complaint_id, data["priority"], at, p, category,
                                                  standing=standing))
             for p in later])
        complaint.folds.show(complaint)
    return complaint


def _follow_up(complaint: Complaint, fact: CustomerFact) -> None:
    action = {
        "crm.complaint.responded": complaint.respond,
        "crm.complaint.resolved": complaint.resolve,
        "crm.complaint.reopened": complaint.reopen,
        "crm.complaint.paused": complaint.pause,
        "crm.complaint.resumed": complaint.resume,
    }.get(fact.event_type)
    if action is not None:
        action(fact.occurred_at)
    elif fact.event_type == "crm.complaint.escalated":
        complaint.escalate(fact.occurred_at, fact.data.get("priority"))
