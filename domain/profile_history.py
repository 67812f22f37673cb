"""Who changed the customer's account, and what: the 360's short profile history.

Account changes may say who made them (``actor``: the customer through self-service, an
agent, a system), so an agent can tell the customer's own update from a colleague's. The
history keeps field names only, never the values (those are personal, and the profile
shows the current ones), and only the last ``PROFILE_HISTORY_SIZE`` changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

PROFILE_HISTORY_SIZE = 20
#: The account changes the history keeps.
ACCOUNT_CHANGES = frozenset({"crm.account.updated", "crm.account.consent_changed",
                             "crm.account.owner_assigned", "crm.account.closed"})


def changed_fields(event_type: str, data: Mapping[str, Any]) -> list[str]:
    """The profile fields an account change touches."""
    if event_type == "crm.account.updated":
        return sorted(data.get("changes") or {})
    if event_type == "crm.account.consent_changed":
        return [f"consents.{data.get('channel')}"]
    if event_type == "crm.account.owner_assigned":
        return ["owner"]
    return ["status"]


def actor_of(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The change's actor as ``{kind, id}``; None when the source did not say (old facts
    have no ``actor`` key)."""
    actor = data.get("actor")
    if not isinstance(actor, Mapping) or not actor.get("kind"):
        return None
    return {"kind": actor["kind"], "id": actor.get("id")}


def actor_phrase(actor: Mapping[str, Any] | None) -> str | None:
    """"by the customer (self-service)", "by agent A-007", "by system import-job"; None
    when nobody is named."""
    if actor is None:
        return None
    kind, who = actor.get("kind"), actor.get("id")
    if kind == "customer":
        return "by the customer (self-service)"
    if kind == "agent":
        return f"by agent {who}" if who else "by an agent"
    if kind == "system":
        return f"by system {who}" if who else "by a system"
    return None


class ProfileHistory:
    """Fed account changes in event-time order; ``listed`` newest first."""

    def __init__(self, size: int = PROFILE_HISTORY_SIZE) -> None:
        self._changes: deque[dict[str, Any]] = deque(maxlen=size)

    def add(self, event_type: str, data: Mapping[str, Any], at: datetime) -> None:
        actor = actor_of(data)
        self._changes.append({"time": at, "type": event_type,
                              "fields": changed_fields(event_type, data),
                              "actor": actor, "by": actor_phrase(actor)})

    def listed(self) -> list[dict[str, Any]]:
        return [dict(change) for change in reversed(self._changes)]
