"""SQLite recorder of the customer history: the embedded default, one file, no server."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder

from domain.merges import MAX_MERGE_DEPTH
from history.arrivals import UNKNOWN_CLASS, Message
from history.recorder import DeadLetter, HistoryRecorder, HistoryWrite
from storage.codec import decode_headers, encode_headers, from_micros, to_micros


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


class SQLiteHistoryRecorder(SQLiteProcessRecorder, HistoryRecorder):
    """Adds source positions, a unique index of event ids and customer keys to each insert."""

    def __init__(self, datastore: SQLiteDatastore, *, events_table_name: str = "stored_events"):
        self.event_ids_table = f"{events_table_name}_ids"
        self.sources_table = f"{events_table_name}_sources"
        self.keys_table = f"{events_table_name}_keys"
        self.letters_table = f"{events_table_name}_dead_letters"
        self.merges_table = f"{events_table_name}_merges"
        super().__init__(datastore, events_table_name=events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.event_ids_table} "
            "(event_id TEXT PRIMARY KEY) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {self.sources_table} "
            "(source TEXT PRIMARY KEY, caught_up INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.keys_table} "
            "(originator_id TEXT PRIMARY KEY, key BLOB) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {self.letters_table} (source TEXT NOT NULL,"
            " position INTEGER NOT NULL, key BLOB, value BLOB, headers BLOB NOT NULL,"
            " reason TEXT NOT NULL, rejected_at INTEGER NOT NULL, published_at INTEGER,"
            " leased_until INTEGER, error_class TEXT, record_timestamp INTEGER,"
            " PRIMARY KEY (source, position))",
            f"CREATE TABLE IF NOT EXISTS {self.merges_table} "
            "(duplicate_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {self.merges_table}_survivor"
            f" ON {self.merges_table} (survivor_id)",
        ]

    def create_table(self) -> None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                      [self.merges_table])
            existed = c.fetchone() is not None
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT name FROM pragma_table_info('{self.sources_table}')")
            if "advanced_at" not in {row[0] for row in c.fetchall()}:
                # When a batch last advanced the source's position (stalls show in /readyz).
                c.execute(f"ALTER TABLE {self.sources_table} ADD COLUMN advanced_at INTEGER")
            c.execute(f"SELECT name FROM pragma_table_info('{self.letters_table}')")
            # Letters recorded before these columns read as class "unknown", no timestamp.
            columns = {row[0] for row in c.fetchall()}
            for name in ("error_class TEXT", "record_timestamp INTEGER"):
                if name.split()[0] not in columns:
                    c.execute(f"ALTER TABLE {self.letters_table} ADD COLUMN {name}")
        self.merges_table_created = not existed

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """The library's insert, with the history's ``HistoryWrite`` (``write=``) first."""
        write: HistoryWrite = kwargs.get("write") or HistoryWrite()
        positions = write.positions
        for tracking in positions:
            self._insert_tracking(c, tracking)
        event_ids = write.event_ids
        c.executemany(
            f"INSERT INTO {self.event_ids_table} (event_id) VALUES (?)",
            [(event_id,) for event_id in event_ids],
        )
        caught_up = write.caught_up
        now = to_micros(datetime.now(UTC))
        c.executemany(
            f"INSERT INTO {self.sources_table} (source, caught_up, advanced_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET caught_up = excluded.caught_up,"
            " advanced_at = excluded.advanced_at",
            [(source, int(done), now) for source, done in caught_up.items()],
        )
        letters = write.dead_letters
        c.executemany(
            f"INSERT INTO {self.letters_table} (source, position, key, value, headers, reason,"
            " rejected_at, error_class, record_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, position) DO NOTHING",
            [(x.source, x.position, x.message.key, x.message.value,
              encode_headers(x.message.headers), x.reason, to_micros(x.rejected_at),
              x.error_class, x.message.timestamp_ms)
             for x in letters],
        )
        merges = write.merges
        c.executemany(
            f"INSERT INTO {self.merges_table} (duplicate_id, survivor_id) VALUES (?, ?)"
            " ON CONFLICT (duplicate_id) DO UPDATE SET survivor_id = excluded.survivor_id",
            [(d, s) for d, s in merges.items() if s is not None],
        )
        c.executemany(f"DELETE FROM {self.merges_table} WHERE duplicate_id = ?",
                      [(d,) for d, s in merges.items() if s is None])
        new_keys = write.new_keys
        c.executemany(
            f"INSERT INTO {self.keys_table} (originator_id, key) VALUES (?, ?)",
            [(stream.hex, key) for stream, key in new_keys.items()],
        )
        erased = write.erased
        c.executemany(
            f"INSERT INTO {self.keys_table} (originator_id, key) VALUES (?, NULL) "
            "ON CONFLICT (originator_id) DO UPDATE SET key = NULL",
            [(stream.hex,) for stream in erased],
        )
        return super()._insert_events(c, stored_events, **kwargs)

    def sources_caught_up(self) -> dict[str, bool]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT source, caught_up FROM {self.sources_table}")
            return {row[0]: bool(row[1]) for row in c.fetchall()}

    def source_progress(self) -> dict[str, datetime]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT source, advanced_at FROM {self.sources_table}"
                      " WHERE advanced_at IS NOT NULL")
            return {row[0]: from_micros(row[1]) for row in c.fetchall()}

    def merge_links(self, customer_ids: Sequence[str]) -> dict[str, str]:
        links: dict[str, str] = {}
        for chunk in _chunks(customer_ids):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"WITH RECURSIVE up(id, hops) AS (SELECT value, 0 FROM json_each(?)"
                    f" UNION SELECT m.survivor_id, up.hops + 1 FROM {self.merges_table} m"
                    " JOIN up ON m.duplicate_id = up.id WHERE up.hops <= ?),"
                    " down(id, hops) AS (SELECT id, 0 FROM up"
                    f" UNION SELECT m.duplicate_id, down.hops + 1 FROM {self.merges_table} m"
                    " JOIN down ON m.survivor_id = down.id WHERE down.hops <= ?)"
                    f" SELECT duplicate_id, survivor_id FROM {self.merges_table}"
                    " WHERE survivor_id IN (SELECT id FROM down)",
                    [json.dumps(chunk), MAX_MERGE_DEPTH + 1, MAX_MERGE_DEPTH + 1],
                )
                links.update({row[0]: row[1] for row in c.fetchall()})
        return links

    def lease_dead_letters(self, limit: int, seconds: float) -> list[DeadLetter]:
        now = to_micros(datetime.now(UTC))
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT source, position, key, value, headers, reason, rejected_at,"
                      f" error_class, record_timestamp FROM {self.letters_table}"
                      " WHERE published_at IS NULL"
                      " AND (leased_until IS NULL OR leased_until < ?)"
                      " ORDER BY rejected_at, source, position LIMIT ?", [now, limit])
            letters = [DeadLetter(row[0], row[1],
                                  Message(row[2], row[3], decode_headers(row[4]), row[8]),
                                  row[5], from_micros(row[6]), row[7] or UNKNOWN_CLASS)
                       for row in c.fetchall()]
            c.executemany(f"UPDATE {self.letters_table} SET leased_until = ?"
                          " WHERE source = ? AND position = ?",
                          [(now + int(seconds * 1e6), x.source, x.position) for x in letters])
        return letters

    def mark_dead_letters_published(self, letters: Sequence[tuple[str, int]],
                                    at: datetime) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"UPDATE {self.letters_table} SET published_at = ?"
                          " WHERE source = ? AND position = ?",
                          [(to_micros(at), source, position) for source, position in letters])

    def dead_letter_counts(self) -> tuple[int, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT count(*), coalesce(sum(published_at IS NULL), 0)"
                      f" FROM {self.letters_table}")
            recorded, pending = c.fetchone()
            return int(recorded), int(pending)

    def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(event_ids):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT event_id FROM {self.event_ids_table} "
                    f"WHERE event_id IN ({_marks(chunk)})",
                    chunk,
                )
                found.update(row[0] for row in c.fetchall())
        return found

    def customer_keys(self, stream_ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        keys: dict[UUID, bytes | None] = {}
        for chunk in _chunks([sid.hex for sid in stream_ids]):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT originator_id, key FROM {self.keys_table} "
                    f"WHERE originator_id IN ({_marks(chunk)})",
                    chunk,
                )
                keys.update({UUID(row[0]): row[1] for row in c.fetchall()})
        return keys

    def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        versions: dict[UUID, int] = {}
        for chunk in _chunks([sid.hex for sid in stream_ids]):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT originator_id, max(originator_version) FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({_marks(chunk)}) GROUP BY originator_id",
                    chunk,
                )
                versions.update({UUID(row[0]): row[1] for row in c.fetchall()})
        return versions

    def select_streams(self, stream_ids: Sequence[UUID], topics: Sequence[str] = (),
                       after: Mapping[UUID, int] | None = None) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        after = after or {}
        of_topics = f" AND topic IN ({_marks(topics)})" if topics else ""
        for chunk in _chunks(list(stream_ids), size=200):
            streams = " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(chunk))
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE ({streams})"
                    f"{of_topics} ORDER BY originator_id, originator_version",
                    [*(v for s in chunk for v in (s.hex, after.get(s, 0))), *topics],
                )
                events += [
                    StoredEvent(UUID(row[0]), row[1], row[2], row[3]) for row in c.fetchall()
                ]
        return events

    def positions(self, names: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(names):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    "SELECT application_name, notification_id FROM tracking "
                    f"WHERE application_name IN ({_marks(chunk)})",
                    chunk,
                )
                found.update({row[0]: row[1] for row in c.fetchall()})
        return found


def _chunks(values: Sequence[Any], size: int = 500) -> list[list[Any]]:
    """SQLite limits bound parameters per statement; query in slices."""
    values = list(values)
    return [values[i : i + size] for i in range(0, len(values), size)]
