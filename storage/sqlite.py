"""SQLite recorder of the customer history: the embedded default, one file, no server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder

from domain.history import HistoryRecorder


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


class SQLiteHistoryRecorder(SQLiteProcessRecorder, HistoryRecorder):
    """Adds source positions, a unique index of event ids and customer keys to each insert."""

    def __init__(self, datastore: SQLiteDatastore, *, events_table_name: str = "stored_events"):
        self.event_ids_table = f"{events_table_name}_ids"
        self.sources_table = f"{events_table_name}_sources"
        self.keys_table = f"{events_table_name}_keys"
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
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        positions: Sequence[Tracking] = kwargs.get("positions", ())
        for tracking in positions:
            self._insert_tracking(c, tracking)
        event_ids: Sequence[str] = kwargs.get("event_ids", ())
        c.executemany(
            f"INSERT INTO {self.event_ids_table} (event_id) VALUES (?)",
            [(event_id,) for event_id in event_ids],
        )
        caught_up: Mapping[str, bool] = kwargs.get("caught_up", {})
        c.executemany(
            f"INSERT INTO {self.sources_table} (source, caught_up) VALUES (?, ?) "
            "ON CONFLICT (source) DO UPDATE SET caught_up = excluded.caught_up",
            [(source, int(done)) for source, done in caught_up.items()],
        )
        new_keys: Mapping[UUID, bytes] = kwargs.get("new_keys", {})
        c.executemany(
            f"INSERT INTO {self.keys_table} (originator_id, key) VALUES (?, ?)",
            [(stream.hex, key) for stream, key in new_keys.items()],
        )
        erased: Sequence[UUID] = kwargs.get("erased", ())
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
