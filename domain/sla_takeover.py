"""A later SLA policy taking over a complaint still open when it comes into force.

A policy with ``applies_to_open`` judges, from its ``effective_from`` *S* on, the
complaints still open then (README, "SLA what-if"; ``domain/sla_verdicts.py``):

* their deadlines are those it would have set had it been in force since the opening
  (a *shadow* fold of the same facts under it), but none falls before *S*;
* what already happened stays: a deadline met by *S* keeps its verdict, and a due or
  at-risk moment passed unmet by *S* stays where it was.

A complaint resolved by *S* keeps its opening policy, a reopening after *S* included.
The live fold (``record_complaint_fact``) and the what-if share this one rule. Whether
a complaint is open at *S* is settled by its first fact after *S*; until then it is
taken as still open, which changes no verdict before *S* (every moved moment lies at
*S* or later) and has the SLA clock wake at the new moments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from domain.complaints import Complaint


@dataclass
class Takeover:
    """One later policy's fold of a complaint, and whether the complaint was open at *S*."""

    switch: datetime  # the later policy's effective_from, S
    shadow: Complaint  # the same facts, judged by the later policy since the opening
    open_at_switch: bool | None = None  # None: no fact after S yet


@dataclass
class TakeoverFolds:
    """A complaint folded under its opening policy and under each later policy that may
    take it over; ``show`` gives what every consumer reads."""

    opening: Complaint
    takeovers: list[Takeover]

    def folds(self) -> list[Complaint]:
        return [self.opening, *(t.shadow for t in self.takeovers)]

    def settle(self, before: datetime) -> None:
        """Facts at ``before`` come next: each switch earlier than that has all its facts."""
        for takeover in self.takeovers:
            if takeover.open_at_switch is None and takeover.switch < before:
                takeover.open_at_switch = self.opening.is_open
        self.takeovers = [t for t in self.takeovers if t.open_at_switch is not False]

    def show(self, shown: Complaint) -> None:
        """Set ``shown`` to the opening fold with each takeover applied, in switch order."""
        opening = self.opening
        shown.priority, shown.resolved_at = opening.priority, opening.resolved_at
        shown.policy = opening.policy
        shown.deadlines = [replace(d) for d in opening.deadlines]
        for takeover in self.takeovers:
            if takeover.open_at_switch or (takeover.open_at_switch is None and opening.is_open):
                take_over(shown, takeover.shadow, takeover.switch)


def take_over(complaint: Complaint, later: Complaint, switch: datetime) -> None:
    """From ``switch`` on, ``later``'s moments judge what had not happened yet (module doc)."""
    for old, new in zip(complaint.deadlines, later.deadlines, strict=True):
        if old.met_at is not None and old.met_at <= switch:
            continue
        if old.at_risk > switch:
            old.at_risk = max(switch, new.at_risk)
        if old.due > switch:
            old.due = max(switch, new.due)
    complaint.policy = later.policy
