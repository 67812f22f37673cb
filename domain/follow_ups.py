"""Follow-ups: a contact that promised the customer a call back becomes a task.

A ``crm.contact.logged`` with outcome ``follow_up`` opens a task, due at its
``follow_up_at`` or, without one, a configured wait (``CRM_FOLLOW_UP_HOURS``) after
the contact. Any later contact with the same customer closes it, whatever its
outcome: what a CRM user expects, since someone did get back to the customer (a
later ``follow_up`` contact closes the old task and opens its own). "Later" is by
event time, strictly: a contact at the very moment of the opening does not close it.
Closing goes by the customer id the contact was recorded for; a merge neither
closes nor moves tasks (the survivor's 360 lists its duplicates' tasks too).

A task is due *at* its due time and overdue only after it: a contact exactly at the
due time is in time, one a microsecond later is late. The clock is always injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from domain.alerts import Alert

FOLLOW_UP = "follow_up"
OVERDUE_KIND = "follow_up_overdue"
#: The first moment after the due time, when a task becomes overdue.
A_MOMENT = timedelta(microseconds=1)


@dataclass(frozen=True)
class FollowUp:
    """One promised follow-up; ``task_id`` is stable (the opening contact's event id)."""

    task_id: str
    customer_id: str
    opened_at: datetime
    due_at: datetime
    agent_id: str | None = None
    channel: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None  # the event id of the contact that closed it

    def is_open(self, at: datetime) -> bool:
        """Open at ``at``: opened by then and not yet closed."""
        return self.opened_at <= at and (self.closed_at is None or self.closed_at > at)

    def is_overdue(self, at: datetime) -> bool:
        """Open at ``at`` and past its due time (exactly at the due time it is not)."""
        return self.is_open(at) and at > self.due_at

    def closed(self, event_id: str, at: datetime) -> FollowUp:
        """The task after a contact at ``at``: closed by it if it comes later than the
        opening and earlier than whatever closed it so far (contacts may arrive late)."""
        if at <= self.opened_at or (self.closed_at is not None and self.closed_at <= at):
            return self
        return replace(self, closed_at=at, closed_by=event_id)


def task_id_of(event_id: str) -> str:
    return f"follow_up:{event_id}"


def opened_by(customer_id: str, event_id: str, at: datetime, data: Mapping[str, Any],
              wait: timedelta) -> FollowUp | None:
    """The task a contact opens (None: it promised no follow-up). ``follow_up_at`` is an
    RFC 3339 string, or null or absent (facts recorded before it existed)."""
    if data.get("outcome") != FOLLOW_UP:
        return None
    promised = data.get("follow_up_at")
    due = datetime.fromisoformat(promised) if promised else at + wait
    return FollowUp(task_id_of(event_id), customer_id, at, due, data.get("agent_id"),
                    data.get("channel"))


def overdue_alert(task: FollowUp) -> Alert:
    """The alert of a task not followed up by its due time; raised once (stable id), as
    of the due time it missed."""
    return Alert(
        alert_id=f"{task.task_id}:overdue",
        kind=OVERDUE_KIND,
        customer_id=task.customer_id,
        raised_at=task.due_at,
        details={"task_id": task.task_id, "due": task.due_at.isoformat(),
                 "opened_at": task.opened_at.isoformat(), "agent_id": task.agent_id,
                 "channel": task.channel},
    )
