"""What a positioned source (a Kafka partition) hands the customer history: arrivals.

Each position of a source is one ``Arrival``: the fact it reports, or the reason
it reports none (the message is then dead-lettered). The message as received
travels along, so that a fact the history cannot store after all (a merge over
the limits, a value the database refuses) is dead-lettered as it came.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.facts import ReportedFact

#: The error class of a merge the history refuses (``domain.merges`` limits).
MERGE_LIMIT = "merge_limit"
#: The error class of a dead letter recorded before classes existed, or by a caller that
#: gave none.
UNKNOWN_CLASS = "unknown"


@dataclass(frozen=True)
class Message:
    """A message as it was received: its bytes and headers, kept whole for a dead letter,
    and the broker's timestamp of it (milliseconds since the epoch; None: it had none)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Arrival:
    """One position of a source: the fact it reports, or (``fact`` None) the reason why not.

    ``message`` is the message as received; ``claimed_type`` is the type an invalid
    message claims (for counters; "unknown" when it is none of ours); ``error_class``
    the machine-readable kind of ``reason`` (``schemas.refusals``, ``MERGE_LIMIT``, ...).
    """

    source: str
    position: int
    fact: ReportedFact | None = None
    message: Message | None = None
    reason: str | None = None
    claimed_type: str = "unknown"
    error_class: str | None = None

    @property
    def event_type(self) -> str:
        return self.fact.event_type if self.fact is not None else self.claimed_type

    def refused(self, reason: str, error_class: str) -> Arrival:
        """This arrival dead-lettered instead of stored."""
        return replace(self, fact=None, reason=reason, claimed_type=self.event_type,
                       error_class=error_class)
