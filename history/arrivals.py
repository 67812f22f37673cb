"""What a positioned source (a Kafka partition) hands the customer history: arrivals.

Each position of a source is one ``Arrival``: the fact it reports, or the reason
it reports none (the message is then dead-lettered). The message as received
travels along, so that a fact the history cannot store after all (a merge over
the limits, a value the database refuses) is dead-lettered as it came.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.facts import ReportedFact


@dataclass(frozen=True)
class Message:
    """A message as it was received: its bytes and headers, kept whole for a dead letter."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Arrival:
    """One position of a source: the fact it reports, or (``fact`` None) the reason why not.

    ``message`` is the message as received; ``claimed_type`` is the type an invalid
    message claims (for counters; "unknown" when it is none of ours).
    """

    source: str
    position: int
    fact: ReportedFact | None = None
    message: Message | None = None
    reason: str | None = None
    claimed_type: str = "unknown"

    @property
    def event_type(self) -> str:
        return self.fact.event_type if self.fact is not None else self.claimed_type

    def refused(self, reason: str) -> Arrival:
        """This arrival dead-lettered instead of stored."""
        return replace(self, fact=None, reason=reason, claimed_type=self.event_type)
