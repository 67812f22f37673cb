"""The customer's social identities, from social-channel contacts that name them.

An agent answering a DM needs to know it is the same customer: per (platform, handle),
when it was first and last seen and how many contacts came through it. The handle is
personal data: after an erasure the facts read back without it, and the fold made from
them again lists the platform alone (counts stay, the name there is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class _Seen:
    first_seen: datetime
    last_seen: datetime
    contacts: int = 0


class SocialIdentities:
    """Fed ``crm.contact.logged`` payloads in event-time order."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str | None, str | None], _Seen] = {}

    def add(self, data: Mapping[str, Any], at: datetime) -> None:
        if data.get("channel") != "social":
            return
        key = (data.get("platform"), data.get("handle"))
        if key == (None, None):
            return
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen(at, at)
        seen.last_seen = at
        seen.contacts += 1

    def listed(self) -> list[dict[str, Any]]:
        """Last seen first."""
        rows = [{"platform": platform, "handle": handle, "first_seen": seen.first_seen,
                 "last_seen": seen.last_seen, "contacts": seen.contacts}
                for (platform, handle), seen in self._seen.items()]
        return sorted(rows, key=lambda r: (r["last_seen"], r["platform"] or "", r["handle"] or ""),
                      reverse=True)
