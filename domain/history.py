"""The customer history: appends each reported fact exactly once to its customer's stream.

Exactly once rests on one database transaction holding three things (SPEC §3):
the new stored events, the event ids (a unique key, so a duplicate can never be
stored twice) and the source positions they came from (Kafka ``topic/partition``
offsets as tracking records, which only ever grow). A crash before the commit
loses nothing: the consumer re-reads from the stored positions. A crash after it
duplicates nothing: the positions and ids already say what is stored.

Personal fields are sealed under the customer's key (``domain/personal_data.py``);
keys are created, and destroyed on an erasure request, in that same transaction,
so no fact is ever stored under a key the store does not hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, ProcessRecorder, StoredEvent, Tracking

from domain.facts import FACT_CLASSES, CustomerFact, ReportedFact, customer_stream_id
from domain.personal_data import ERASURE_REQUESTED, SEALED, CustomerKey, new_key, seal, unseal
from schemas.registry import personal_fields

#: Attempts at one batch when a concurrent writer got there first (rebalance, retry).
_CONFLICT_ATTEMPTS = 5
#: Stream versions remembered between batches; past this the memory starts afresh.
_REMEMBERED_STREAMS = 200_000


class HistoryRecorder(ProcessRecorder, ABC):
    """What the history needs of its store beyond the library's process recorder.

    ``insert_events`` also accepts ``positions`` (tracking records, several per
    transaction), ``event_ids`` (recorded in a unique index), ``new_keys``
    (customer keys by stream, inserted: a key that exists already is a conflict)
    and ``erased`` (streams whose key is destroyed), written in the same
    transaction as the events. Implemented per backend in ``storage/``.
    """

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


@dataclass(frozen=True)
class RecordingOutcome:
    """What one call to :meth:`CustomerHistory.record` did, for logs and metrics."""

    recorded_types: Counter[str]  # event type -> facts recorded
    duplicate_types: Counter[str]  # event type -> facts not recorded: their id was already
    already_seen: int  # positions recorded before (a re-delivered batch)

    @property
    def recorded(self) -> int:
        return self.recorded_types.total()

    @property
    def duplicates(self) -> int:
        return self.duplicate_types.total()


class CustomerHistory(Application[UUID]):
    """Every customer's append-only history, one stream per customer id."""

    name = "CustomerHistory"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.recorder: HistoryRecorder
        # Last version per stream: this process is the only writer of a
        # customer's stream (one Kafka partition per customer), so it can
        # remember versions instead of reading them. A stale entry only costs
        # a retry: the store rejects the conflicting version.
        self._versions: dict[UUID, int] = {}
        # Keys per stream, remembered by the same reasoning (None: erased). Readers
        # never remember keys: an erasure must take effect in every process at once.
        self._keys: dict[UUID, CustomerKey | None] = {}

    def construct_recorder(self) -> HistoryRecorder:
        recorder = self.factory.process_recorder()
        if not isinstance(recorder, HistoryRecorder):
            raise TypeError(
                f"{type(recorder).__name__} is not a HistoryRecorder: set "
                "PROCESS_RECORDER_TOPIC to a recorder from storage/"
            )
        return recorder

    def caught_up(self) -> bool:
        """Whether every source's last batch reached its end: the history has heard all
        that upstream had published. While not, "nothing happened by then" (an SLA
        deadline passing unanswered) is only safe to judge up to each customer's
        latest recorded event, since a customer's events arrive in order."""
        return all(self.recorder.sources_caught_up().values())

    def record(
        self,
        facts: Sequence[tuple[str, int, ReportedFact | None]],
        caught_up: Mapping[str, bool] | None = None,
    ) -> RecordingOutcome:
        """Record facts read from positioned sources, each at most once.

        ``facts`` are ``(source, position, fact)`` in source order; ``fact`` is
        None for a position that carries no fact to store (a dead-lettered
        message) but must still be marked as done. Positions already recorded
        are skipped (a re-delivered batch), as are event ids already recorded
        (an upstream duplicate).
        """
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                return self._record_once(facts, caught_up or {})
            except IntegrityError:
                # Another writer recorded some of these first (a rebalance, a
                # retry after a lost commit acknowledgement): forget what we
                # assumed and decide again from what the store now holds.
                self._versions.clear()
                self._keys.clear()
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _record_once(
        self,
        facts: Sequence[tuple[str, int, ReportedFact | None]],
        caught_up: Mapping[str, bool],
    ) -> RecordingOutcome:
        done = self.recorder.positions(sorted({source for source, _, _ in facts}))
        fresh = [(s, p, f) for s, p, f in facts if p > done.get(s, -1)]
        new_positions: dict[str, int] = {}
        for source, position, _ in fresh:
            new_positions[source] = max(position, new_positions.get(source, -1))

        candidates = [fact for _, _, fact in fresh if fact is not None]
        known = self.recorder.known_event_ids([f.event_id for f in candidates])
        to_store: list[ReportedFact] = []
        for fact in candidates:
            if fact.event_id not in known:
                known.add(fact.event_id)  # a duplicate inside the same batch
                to_store.append(fact)

        sealed, new_keys, erased = self._seal(to_store)
        events = self._as_stored_facts(to_store, sealed)
        if events or new_positions:
            self.events.put(
                events,
                positions=[Tracking(s, p) for s, p in new_positions.items()],
                event_ids=[f.event_id for f in to_store],
                caught_up={s: c for s, c in caught_up.items() if s in new_positions},
                new_keys={stream: key.secret for stream, key in new_keys.items()},
                erased=erased,
            )
            for event in events:
                self._versions[event.originator_id] = event.originator_version
            self._keys.update(new_keys)
            self._keys.update(dict.fromkeys(erased))
        recorded_types = Counter(f.event_type for f in to_store)
        return RecordingOutcome(
            recorded_types=recorded_types,
            duplicate_types=Counter(f.event_type for f in candidates) - recorded_types,
            already_seen=len(facts) - len(fresh),
        )

    def _as_stored_facts(
        self, facts: list[ReportedFact], data: list[dict[str, Any]]
    ) -> list[CustomerFact]:
        stream_ids = {f.customer_id: customer_stream_id(f.customer_id) for f in facts}
        if len(self._versions) > _REMEMBERED_STREAMS:
            self._versions.clear()
        unknown = [sid for sid in stream_ids.values() if sid not in self._versions]
        if unknown:
            self._versions.update(dict.fromkeys(unknown, 0))
            self._versions.update(self.recorder.stream_versions(unknown))
        next_versions = {sid: self._versions[sid] for sid in stream_ids.values()}
        events: list[CustomerFact] = []
        for fact, fact_data in zip(facts, data, strict=True):
            stream_id = stream_ids[fact.customer_id]
            next_versions[stream_id] += 1
            events.append(
                FACT_CLASSES[fact.event_type](
                    originator_id=stream_id,
                    originator_version=next_versions[stream_id],
                    timestamp=CustomerFact.create_timestamp(),
                    event_id=fact.event_id,
                    source=fact.source,
                    customer_id=fact.customer_id,
                    occurred_at=fact.occurred_at,
                    data=fact_data,
                )
            )
        return events

    def _seal(
        self, facts: list[ReportedFact]
    ) -> tuple[list[dict[str, Any]], dict[UUID, CustomerKey], list[UUID]]:
        """Each fact's data with its personal fields sealed under its customer's key, in
        recording order: facts after an erasure request keep no personal data at all.
        Also the keys to create and the streams whose key to destroy."""
        if len(self._keys) > _REMEMBERED_STREAMS:
            self._keys.clear()
        streams = [customer_stream_id(f.customer_id) for f in facts]
        unknown = list(set(streams) - set(self._keys))
        if unknown:
            self._keys.update(_keys(self.recorder.customer_keys(unknown)))
        keys = {stream: self._keys[stream] for stream in set(streams) if stream in self._keys}
        new_keys: dict[UUID, CustomerKey] = {}
        erased: list[UUID] = []
        sealed: list[dict[str, Any]] = []
        for fact, stream in zip(facts, streams, strict=True):
            if stream not in keys:
                keys[stream] = new_keys[stream] = new_key()
            sealed.append(seal(fact.data, personal_fields(fact.event_type), keys[stream],
                               fact.event_id))
            if fact.event_type == ERASURE_REQUESTED and keys[stream] is not None:
                keys[stream] = None
                erased.append(stream)
        return sealed, new_keys, erased

    def facts_of(self, stored: Sequence[StoredEvent], *,
                 personal_data: bool = True) -> list[CustomerFact]:
        """Stored events as facts, personal fields unsealed with their customers' keys
        (read once per call, never remembered), or null where a key was destroyed.
        Readers that need no personal data (reports) ask for none: all null."""
        facts: list[CustomerFact] = [self.mapper.to_domain_event(s) for s in stored]  # type: ignore[misc]
        sealed = {f.originator_id for f in facts if SEALED in f.data}
        if sealed:
            keys = _keys(self.recorder.customer_keys(list(sealed))) if personal_data else {}
            for fact in facts:
                if SEALED in fact.data:
                    unseal(fact.data, keys.get(fact.originator_id), fact.event_id)
        return facts

    def customer_facts(self, customer_id: str) -> list[CustomerFact]:
        """A customer's whole stream in recording order (for replays and audits)."""
        return self.customers_facts([customer_id])[customer_id]

    def customers_facts(self, customer_ids: Sequence[str], topics: Sequence[str] = (),
                        after: Mapping[str, int] | None = None) -> dict[str, list[CustomerFact]]:
        """The streams of several customers, read together: only facts of the given stored
        topics (``domain.facts.stored_topic``), if any, and past the version ``after``
        names for a customer, if it does."""
        facts: dict[str, list[CustomerFact]] = {customer_id: [] for customer_id in customer_ids}
        by_stream = {customer_stream_id(customer_id): customer_id for customer_id in customer_ids}
        versions = {customer_stream_id(c): v for c, v in (after or {}).items()}
        for fact in self.facts_of(self.recorder.select_streams(list(by_stream), topics, versions)):
            facts[by_stream[fact.originator_id]].append(fact)
        return facts

    def stream_versions(self, customer_ids: Sequence[str]) -> dict[str, int]:
        """The number of facts recorded for each customer (0 for none): cheap change detection."""
        by_stream = {customer_stream_id(customer_id): customer_id for customer_id in customer_ids}
        versions = self.recorder.stream_versions(list(by_stream))
        return {customer_id: versions.get(sid, 0) for sid, customer_id in by_stream.items()}


def _keys(secrets: Mapping[UUID, bytes | None]) -> dict[UUID, CustomerKey | None]:
    return {stream: None if secret is None else CustomerKey(secret)
            for stream, secret in secrets.items()}
