"""Complaint SLA policies: targets per priority, per-category overrides, a calendar.

Policies are versioned by ``effective_from``: a complaint is judged by the
policy in force when it was opened, so a changed policy applies to complaints
opened after the change and history keeps its verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.calendars import AlwaysOpen, Calendar

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

    def targets_for(self, priority: str, category: str | None) -> Targets:
        override = self.categories.get(category or "", {}).get(priority)
        return override or self.targets[priority]


class PolicyBook:
    """Every policy version; the one in force at a moment judges complaints opened then."""

    def __init__(self, policies: Sequence[SlaPolicy]) -> None:
        if not policies:
            raise ValueError("an SLA policy book needs at least one policy")
        self.policies = sorted(policies, key=lambda p: p.effective_from)

    def policy_for(self, opened_at: datetime) -> SlaPolicy:
        in_force = [p for p in self.policies if p.effective_from <= opened_at]
        return in_force[-1] if in_force else self.policies[0]


DEFAULT_POLICY_BOOK = PolicyBook([SlaPolicy(effective_from=datetime(1970, 1, 1, tzinfo=UTC))])
