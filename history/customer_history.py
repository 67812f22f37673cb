"""The customer history: appends each reported fact exactly once to its customer's stream.

Exactly once rests on one database transaction holding three things (SPEC §3):
the new stored events, the event ids (a unique key, so a duplicate can never be
stored twice) and the source positions they came from (Kafka ``topic/partition``
offsets as tracking records, which only ever grow). A crash before the commit
loses nothing: the consumer re-reads from the stored positions. A crash after it
duplicates nothing: the positions and ids already say what is stored.

Personal fields are sealed under the customer's key (``history/sealing.py``);
keys are created, and destroyed on an erasure request, in that same transaction,
so no fact is ever stored under a key the store does not hold.

A message that carries no fact to store (invalid, or a merge over the limits of
``domain/merges.py``) is recorded as a dead letter in that same transaction too,
with its position: it is queued for the dead-letter topic exactly once, however
often its batch is delivered again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from domain.facts import CustomerFact, ReportedFact, customer_stream_id, stored_topic
from domain.merges import MergeForest
from domain.personal_data import ERASURE_REQUESTED, PersonalFields
from history.arrivals import MERGE_LIMIT, UNKNOWN_CLASS, Arrival, Message
from history.recorder import DeadLetter, HistoryRecorder, HistoryWrite
from history.sealing import SEALED, CustomerKey, new_key, seal, unseal

#: Attempts at one batch when a concurrent writer got there first (rebalance, retry).
_CONFLICT_ATTEMPTS = 5
#: Stream versions remembered between batches; past this the memory starts afresh.
_REMEMBERED_STREAMS = 200_000


_MERGES = frozenset({"crm.account.merged", "crm.account.unmerged"})


@dataclass(frozen=True)
class RecordingOutcome:
    """What one call to :meth:`CustomerHistory.record` did, for logs and metrics."""

    recorded_types: Counter[str]  # event type -> facts recorded
    duplicate_types: Counter[str]  # event type -> facts not recorded: their id was already
    dead_letters: tuple[Arrival, ...]  # arrivals recorded as dead letters, not before
    already_seen: int  # positions recorded before (a re-delivered batch)

    @property
    def recorded(self) -> int:
        return self.recorded_types.total()

    @property
    def duplicates(self) -> int:
        return self.duplicate_types.total()

    @property
    def dead_lettered(self) -> int:
        return len(self.dead_letters)

    @property
    def dead_letter_types(self) -> Counter[str]:
        """Claimed type -> messages recorded as dead letters."""
        return Counter(a.event_type for a in self.dead_letters)

    def __add__(self, other: RecordingOutcome) -> RecordingOutcome:
        return RecordingOutcome(self.recorded_types + other.recorded_types,
                                self.duplicate_types + other.duplicate_types,
                                self.dead_letters + other.dead_letters,
                                self.already_seen + other.already_seen)


class CustomerHistory(Application[UUID]):
    """Every customer's append-only history, one stream per customer id."""

    name = "CustomerHistory"

    def __init__(self, env: Mapping[str, str] | None = None, *,
                 personal_fields: PersonalFields) -> None:
        """``personal_fields``: where each wire type's personal fields are (the wire
        contract knows: ``schemas.registry.personal_fields``)."""
        super().__init__(env)
        if self.mapper.cipher is not None or self.mapper.compressor is not None:
            raise ValueError("CustomerHistory encodes stored facts itself: set neither "
                             "CIPHER_TOPIC nor COMPRESSOR_TOPIC (personal fields are sealed "
                             "per customer, history/sealing.py)")
        self.personal_fields = personal_fields
        self.recorder: HistoryRecorder
        # Last version per stream: this process is the only writer of a
        # customer's stream (one Kafka partition per customer), so it can
        # remember versions instead of reading them. A stale entry only costs
        # a retry: the store rejects the conflicting version.
        self._versions: dict[UUID, int] = {}
        # Keys per stream, remembered by the same reasoning (None: erased). Readers
        # never remember keys: an erasure must take effect in every process at once.
        self._keys: dict[UUID, CustomerKey | None] = {}
        if self.recorder.merges_table_created:
            self.backfill_merges()

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
        arrivals: Sequence[Arrival],
        caught_up: Mapping[str, bool] | None = None,
    ) -> RecordingOutcome:
        """Record arrivals from positioned sources, each position at most once.

        ``arrivals`` are in source order. Positions already recorded are skipped
        (a re-delivered batch), as are facts whose event id is already recorded (an
        upstream duplicate). An arrival without a fact, and a merge over the limits,
        is recorded as a dead letter. ``caught_up`` says, per source, whether these
        arrivals reach the end of what the source held.
        """
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                return self._record_once(arrivals, caught_up or {})
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
        self, arrivals: Sequence[Arrival], caught_up: Mapping[str, bool]
    ) -> RecordingOutcome:
        done = self.recorder.positions(sorted({a.source for a in arrivals}))
        fresh = [a for a in arrivals if a.position > done.get(a.source, -1)]
        new_positions: dict[str, int] = {}
        for arrival in fresh:
            new_positions[arrival.source] = max(arrival.position,
                                                new_positions.get(arrival.source, -1))

        candidates = [(a, a.fact) for a in fresh if a.fact is not None]
        known = self.recorder.known_event_ids([f.event_id for _, f in candidates])
        unique: list[tuple[Arrival, ReportedFact]] = []
        for arrival, fact in candidates:
            if fact.event_id not in known:
                known.add(fact.event_id)  # a duplicate inside the same batch
                unique.append((arrival, fact))
        facts, refused, merges = self._check_merges(unique)
        letters = [a for a in fresh if a.fact is None] + refused

        sealed, new_keys, erased = self._seal(facts)
        events = self._as_stored_events(facts, sealed)
        if events or new_positions:
            self.recorder.write(events, HistoryWrite(
                positions=[Tracking(s, p) for s, p in new_positions.items()],
                event_ids=[f.event_id for f in facts],
                caught_up={s: c for s, c in caught_up.items() if s in new_positions},
                new_keys={stream: key.secret for stream, key in new_keys.items()},
                erased=erased,
                dead_letters=_dead_letters(letters),
                merges=merges,
            ))
            for event in events:
                self._versions[event.originator_id] = event.originator_version
            self._keys.update(new_keys)
            self._keys.update(dict.fromkeys(erased))
        recorded_types = Counter(f.event_type for f in facts)
        return RecordingOutcome(
            recorded_types=recorded_types,
            duplicate_types=Counter(f.event_type for _, f in candidates)
            - Counter(f.event_type for _, f in unique),
            dead_letters=tuple(letters),
            already_seen=len(arrivals) - len(fresh),
        )

    def _check_merges(
        self, arrivals: list[tuple[Arrival, ReportedFact]]
    ) -> tuple[list[ReportedFact], list[Arrival], dict[str, str | None]]:
        """The facts to store, the merges refused (over the limits of ``domain.merges``:
        dead letters), and the merge pointers that change, in arrival order."""
        if not any(f.event_type in _MERGES for _, f in arrivals):
            return [f for _, f in arrivals], [], {}
        forest = MergeForest(self.recorder.merge_links(
            [i for _, f in arrivals if f.event_type in _MERGES
             for i in (f.customer_id, f.data["duplicate_customer_id"])]))
        kept: list[ReportedFact] = []
        refused: list[Arrival] = []
        for arrival, fact in arrivals:
            if fact.event_type == "crm.account.merged":
                reason = forest.refusal(fact.customer_id, fact.data["duplicate_customer_id"])
                if reason is not None:
                    refused.append(arrival.refused(reason, MERGE_LIMIT))
                    continue
                forest.merge(fact.customer_id, fact.data["duplicate_customer_id"])
            elif fact.event_type == "crm.account.unmerged":
                forest.unmerge(fact.customer_id, fact.data["duplicate_customer_id"])
            kept.append(fact)
        return kept, refused, forest.changed

    def backfill_merges(self) -> int:
        """Fill the merge pointers' table from the merges stored before it existed; return
        how many merge facts were read."""
        topics = [stored_topic(t) for t in sorted(_MERGES)]
        forest, position, count = MergeForest({}), 0, 0
        while batch := self.recorder.select_notifications(
                start=position, limit=1000, topics=topics, inclusive_of_start=False):
            for fact in self.facts_of(batch, personal_data=False):
                duplicate = fact.data["duplicate_customer_id"]
                if fact.event_type == "crm.account.merged":
                    forest.merge(fact.customer_id, duplicate)
                else:
                    forest.unmerge(fact.customer_id, duplicate)
                count += 1
            position = batch[-1].id
        if forest.changed:
            self.recorder.write([], HistoryWrite(merges=forest.changed))
        return count

    def _as_stored_events(
        self, facts: list[ReportedFact], data: list[dict[str, Any]]
    ) -> list[StoredEvent]:
        """The facts as the store keeps them, each next in its customer's stream: what the
        library's mapper would make of a ``CustomerFact`` (no cipher or compressor: the
        history seals personal fields itself), without making one first, which cost more
        than the rest of the encoding. All recorded now, in one transaction."""
        stream_ids = {f.customer_id: customer_stream_id(f.customer_id) for f in facts}
        if len(self._versions) > _REMEMBERED_STREAMS:
            self._versions.clear()
        unknown = [sid for sid in stream_ids.values() if sid not in self._versions]
        if unknown:
            self._versions.update(dict.fromkeys(unknown, 0))
            self._versions.update(self.recorder.stream_versions(unknown))
        next_versions = {sid: self._versions[sid] for sid in stream_ids.values()}
        encode, recorded_at = self.mapper.transcoder.encode, CustomerFact.create_timestamp()
        events: list[StoredEvent] = []
        for fact, fact_data in zip(facts, data, strict=True):
            stream_id = stream_ids[fact.customer_id]
            next_versions[stream_id] += 1
            # The fields of CustomerFact after the originator's, in their order.
            fields = {"timestamp": recorded_at, "event_id": fact.event_id,
                      "source": fact.source, "customer_id": fact.customer_id,
                      "occurred_at": fact.occurred_at, "data": fact_data}
            # Only when there are any: most facts have none, and stored facts keep one shape.
            if fact.extensions:
                fields["extensions"] = dict(fact.extensions)
            if fact.schema_id is not None:
                fields["schema_id"] = fact.schema_id
            state = encode(fields)
            events.append(StoredEvent(originator_id=stream_id,
                                      originator_version=next_versions[stream_id],
                                      topic=stored_topic(fact.event_type), state=state))
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
            sealed.append(seal(fact.data, self.personal_fields(fact.event_type), keys[stream],
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
                        after: Mapping[str, int] | None = None, *,
                        personal_data: bool = True) -> dict[str, list[CustomerFact]]:
        """The streams of several customers, read together: only facts of the given stored
        topics (``domain.facts.stored_topic``), if any, and past the version ``after``
        names for a customer, if it does; personal fields as ``facts_of`` gives them."""
        facts: dict[str, list[CustomerFact]] = {customer_id: [] for customer_id in customer_ids}
        by_stream = {customer_stream_id(customer_id): customer_id for customer_id in customer_ids}
        versions = {customer_stream_id(c): v for c, v in (after or {}).items()}
        stored = self.recorder.select_streams(list(by_stream), topics, versions)
        for fact in self.facts_of(stored, personal_data=personal_data):
            facts[by_stream[fact.originator_id]].append(fact)
        return facts

    def stream_versions(self, customer_ids: Sequence[str]) -> dict[str, int]:
        """The number of facts recorded for each customer (0 for none): cheap change detection."""
        by_stream = {customer_stream_id(customer_id): customer_id for customer_id in customer_ids}
        versions = self.recorder.stream_versions(list(by_stream))
        return {customer_id: versions.get(sid, 0) for sid, customer_id in by_stream.items()}


def _dead_letters(arrivals: Sequence[Arrival]) -> list[DeadLetter]:
    now = datetime.now(UTC)
    return [DeadLetter(a.source, a.position, a.message or Message(None, None),
                       a.reason or "rejected", now, a.error_class or UNKNOWN_CLASS)
            for a in arrivals]


def _keys(secrets: Mapping[UUID, bytes | None]) -> dict[UUID, CustomerKey | None]:
    return {stream: None if secret is None else CustomerKey(secret)
            for stream, secret in secrets.items()}
