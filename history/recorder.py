"""What the customer history needs of its store, beyond the library's process recorder.

One recording is one transaction: the stored events and a ``HistoryWrite``, the
rest that must change with them (source positions, event ids, customer keys,
dead letters, merge pointers). Implemented per backend in ``storage/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import ProcessRecorder, StoredEvent, Tracking

from history.arrivals import Message


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message recorded with its source position, queued for the dead-letter
    topic: why, in prose (``reason``) and as a class (``error_class``; "unknown" for
    letters recorded before classes were)."""

    source: str
    position: int
    message: Message
    reason: str
    rejected_at: datetime
    error_class: str = "unknown"


@dataclass(frozen=True)
class HistoryWrite:
    """What one recording writes beside the stored events, in their transaction."""

    positions: Sequence[Tracking] = ()  # one tracking record per source: positions only grow
    event_ids: Sequence[str] = ()  # into a unique index: a duplicate can never be stored
    caught_up: Mapping[str, bool] = field(default_factory=dict)  # per source advanced
    new_keys: Mapping[UUID, bytes] = field(default_factory=dict)  # a key that exists conflicts
    erased: Sequence[UUID] = ()  # streams whose key is destroyed
    dead_letters: Sequence[DeadLetter] = ()  # inserted once per source position
    merges: Mapping[str, str | None] = field(default_factory=dict)  # pointers set; None: removed


class HistoryRecorder(ProcessRecorder, ABC):
    """The history's store: ``write`` records, the other methods read what it needs."""

    #: Set by ``create_table`` when it created the merge pointers' table just now, so the
    #: history fills it from the merges stored before it existed.
    merges_table_created = False

    def write(self, events: Sequence[StoredEvent], write: HistoryWrite) -> None:
        """Store ``events`` and ``write`` in one transaction (``IntegrityError`` if another
        writer got there first)."""
        self.insert_events(events, write=write)

    @abstractmethod
    def customer_keys(self, stream_ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        """The key of each given stream that has one; None for an erased stream."""

    @abstractmethod
    def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Those of the given event ids that are already recorded."""

    @abstractmethod
    def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last recorded version of each given stream that has any."""

    @abstractmethod
    def positions(self, names: Sequence[str]) -> dict[str, int]:
        """The recorded position of each named source that has one."""

    @abstractmethod
    def sources_caught_up(self) -> dict[str, bool]:
        """Per source, whether its last recorded batch reached the end of what it held."""

    @abstractmethod
    def select_streams(self, stream_ids: Sequence[UUID], topics: Sequence[str] = (),
                       after: Mapping[UUID, int] | None = None) -> list[StoredEvent]:
        """Every stored event of the given streams (of the given topics, if any; past the
        version ``after`` names for a stream, if it does), in stream order (one query)."""

    @abstractmethod
    def merge_links(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """Every merge pointer (duplicate -> survivor) of the groups holding these ids."""

    @abstractmethod
    def source_progress(self) -> dict[str, datetime]:
        """Per source, when a batch last advanced its recorded position."""

    @abstractmethod
    def lease_dead_letters(self, limit: int, seconds: float) -> list[DeadLetter]:
        """Dead letters not yet published nor leased by another relay, oldest first, leased
        for ``seconds`` (a relay that dies leaves them to the others once that passes)."""

    @abstractmethod
    def mark_dead_letters_published(self, letters: Sequence[tuple[str, int]],
                                    at: datetime) -> None:
        """Note (source, position) letters as acknowledged by the broker."""

    @abstractmethod
    def dead_letter_counts(self) -> tuple[int, int]:
        """(dead letters recorded, of which not yet published)."""
