"""Complaint SLA policies: targets per priority, per-category overrides, a calendar.

Policies are versioned by ``effective_from``: a complaint is judged by the
policy in force when it was opened, so a changed policy applies to complaints
opened after the change and history keeps its verdicts. A policy with
``applies_to_open`` also takes over the complaints still open when it comes into
force (``domain/sla_takeover.py``): an explicit choice, never a default.

Targets may depend on the complaint's category and on its customer's standing at the
opening (segment, loyalty tier: ``domain/sla_standing.py``). Per priority, the first of
these that sets targets wins (a target it leaves out is the policy's own, as for
categories): category and segment, category and tier, category, segment, tier, the
policy's targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain.calendars import AlwaysOpen, Calendar
from domain.sla_standing import NO_STANDING, SEGMENT, TIER, Standing

PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Targets:
    first_response: timedelta
    resolution: timedelta


#: SPEC §4 defaults, in hours of the policy's calendar.
DEFAULT_TARGETS: dict[str, Targets] = {
    "urgent": Targets(timedelta(hours=1), timedelta(hours=8)),
    "high": Targets(timedelta(hours=4), timedelta(hours=24)),
    "normal": Targets(timedelta(hours=24), timedelta(hours=72)),
    "low": Targets(timedelta(hours=72), timedelta(hours=168)),
}


@dataclass(frozen=True)
class SlaPolicy:
    effective_from: datetime
    calendar: Calendar = field(default_factory=AlwaysOpen)
    targets: Mapping[str, Targets] = field(default_factory=lambda: DEFAULT_TARGETS)
    #: category -> priority -> targets replacing the default ones.
    categories: Mapping[str, Mapping[str, Targets]] = field(default_factory=dict)
    at_risk_share: float = 0.8
    version: str = "default"
    #: Complaints still open at ``effective_from`` are judged by it from then on.
    applies_to_open: bool = False
    #: segment (``segment_key``) or tier -> priority -> targets for its customers.
    segments: Mapping[str, Mapping[str, Targets]] = field(default_factory=dict)
    tiers: Mapping[str, Mapping[str, Targets]] = field(default_factory=dict)
    #: (category, segment) or (category, tier) -> priority -> targets: the most specific.
    category_segments: Mapping[tuple[str, str], Mapping[str, Targets]] = field(
        default_factory=dict)
    category_tiers: Mapping[tuple[str, str], Mapping[str, Targets]] = field(default_factory=dict)

    def targets_for(self, priority: str, category: str | None,
                    standing: Standing = NO_STANDING) -> Targets:
        """The first targets set for ``priority`` in the order of the module doc."""
        category = category or ""
        segment, tier = standing.segment or "", standing.tier or ""
        for table, key in ((self.category_segments, (category, segment)),
                           (self.category_tiers, (category, tier)),
                           (self.categories, category), (self.segments, segment),
                           (self.tiers, tier)):
            found = table.get(key, {}).get(priority)  # type: ignore[attr-defined]
            if found:
                return found
        return self.targets[priority]

    @property
    def targeting(self) -> frozenset[str]:
        """What of a customer's standing this policy's targets depend on."""
        return frozenset({SEGMENT} if self.segments or self.category_segments else set()) | (
            {TIER} if self.tiers or self.category_tiers else set())


class PolicyBook:
    """Every policy version; the one in force at a moment judges complaints opened then."""

    def __init__(self, policies: Sequence[SlaPolicy]) -> None:
        if not policies:
            raise ValueError("an SLA policy book needs at least one policy")
        self.policies = sorted(policies, key=lambda p: p.effective_from)

    @property
    def targeting(self) -> frozenset[str]:
        """What of a customer's standing any policy of the book targets: what the SLA
        folds must read besides complaint facts (``domain/sla_standing.py``)."""
        return frozenset().union(*(p.targeting for p in self.policies))

    def policy_for(self, opened_at: datetime) -> SlaPolicy:
        in_force = [p for p in self.policies if p.effective_from <= opened_at]
        return in_force[-1] if in_force else self.policies[0]

    def taking_over(self, opening: SlaPolicy, opened_at: datetime) -> list[SlaPolicy]:
        """The later policies that take over a complaint opened then if it is still open."""
        return [p for p in self.policies if p.applies_to_open and p.effective_from > opened_at
                and p is not opening]

    def applied_to_open(self) -> PolicyBook:
        """This book with every later policy taking over the complaints still open (the
        what-if's ``apply_to_open`` preview)."""
        return PolicyBook([replace(p, applies_to_open=True) for p in self.policies])

    def until(self, as_of: datetime) -> PolicyBook:
        """The policies in force by ``as_of``: what a judgement as of then can know of."""
        known = [p for p in self.policies if p.effective_from <= as_of]
        return PolicyBook(known or self.policies[:1])


DEFAULT_POLICY_BOOK = PolicyBook([SlaPolicy(effective_from=datetime(1970, 1, 1, tzinfo=UTC))])
