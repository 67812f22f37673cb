"""A complaint's lifecycle and its SLA verdicts on a 24x7 clock (SPEC §4, Complaint SLA).

A target is breached when its deadline passes without the response or the
resolution, whether or not a later event arrives (``breaches(as_of)`` sees it),
and a late response or resolution is a breach too. Escalation to a higher
priority tightens the targets from the escalation on; a reopened complaint gets
a new resolution target from the reopen time; a pause (waiting on the customer)
stops the resolution clock, never the first-response clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Default targets per priority: (first response, resolution).
DEFAULT_TARGETS: dict[str, tuple[timedelta, timedelta]] = {
    "urgent": (timedelta(hours=1), timedelta(hours=8)),
    "high": (timedelta(hours=4), timedelta(hours=24)),
    "normal": (timedelta(hours=24), timedelta(hours=72)),
    "low": (timedelta(hours=72), timedelta(hours=168)),
}


@dataclass(frozen=True)
class Breach:
    complaint_id: str
    kind: str  # "first_response" or "resolution"
    priority: str
    due: datetime


@dataclass
class Complaint:
    complaint_id: str
    priority: str
    opened_at: datetime
    category: str | None = None
    targets: dict[str, tuple[timedelta, timedelta]] = field(default_factory=lambda: DEFAULT_TARGETS)
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    paused_since: datetime | None = None
    response_due: datetime = field(init=False)
    resolution_due: datetime = field(init=False)
    settled: list[Breach] = field(default_factory=list)  # breaches already decided by an event

    def __post_init__(self) -> None:
        first, resolution = self.targets[self.priority]
        self.response_due = self.opened_at + first
        self.resolution_due = self.opened_at + resolution

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def respond(self, at: datetime) -> None:
        if self.responded_at is None:
            self.responded_at = at
            if at > self.response_due:
                self._breach("first_response", self.response_due)

    def escalate(self, at: datetime, priority: str | None) -> None:
        if priority is None or priority not in self.targets:
            return
        first, resolution = self.targets[priority]
        if resolution < self.targets[self.priority][1]:
            self.priority = priority
            if self.responded_at is None:
                self.response_due = min(self.response_due, at + first)
            self.resolution_due = min(self.resolution_due, at + resolution)

    def pause(self, at: datetime) -> None:
        if self.paused_since is None and self.is_open:
            self.paused_since = at

    def resume(self, at: datetime) -> None:
        if self.paused_since is not None:
            self.resolution_due += at - self.paused_since
            self.paused_since = None

    def resolve(self, at: datetime) -> None:
        if not self.is_open:
            return
        self.resume(at)
        self.resolved_at = at
        if at > self.resolution_due:
            self._breach("resolution", self.resolution_due)

    def reopen(self, at: datetime) -> None:
        if self.is_open:
            return
        self.resolved_at = None
        self.resolution_due = at + self.targets[self.priority][1]

    def breaches(self, as_of: datetime) -> list[Breach]:
        """Every breach as of ``as_of``: settled ones and deadlines passed while waiting."""
        found = [b for b in self.settled if b.due <= as_of]
        if self.responded_at is None and self.response_due <= as_of:
            found.append(Breach(self.complaint_id, "first_response", self.priority, self.response_due))
        if self.is_open:
            due = self.resolution_due
            if self.paused_since is not None:
                due += max(as_of - self.paused_since, timedelta(0))
            if due <= as_of:
                found.append(Breach(self.complaint_id, "resolution", self.priority, due))
        return found

    def _breach(self, kind: str, due: datetime) -> None:
        self.settled.append(Breach(self.complaint_id, kind, self.priority, due))
