"""PostgreSQL recorder of the customer history (psycopg 3, through eventsourcing).

Events go in as four binary arrays (``unnest`` of ``%b`` parameters) rather than the library's
array of composite values, which psycopg dumps as escaped text, byte by byte:
the same rows, in the same order, under the same table lock, at a fraction of
the cost. Nothing reads the new notification ids back, so none are returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.merges import MAX_MERGE_DEPTH
from history.arrivals import UNKNOWN_CLASS, Message
from history.recorder import DeadLetter, HistoryRecorder, HistoryWrite
from storage.codec import decode_headers, encode_headers, from_micros, to_micros


class PostgresHistoryRecorder(PostgresProcessRecorder, HistoryRecorder):
    """Adds source positions, a unique index of event ids and customer keys to each insert.

    A read of one statement takes an autocommit cursor (``datastore.cursor()``): no
    BEGIN and ROLLBACK around it, one round trip instead of three."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore,
            events_table_name=events_table_name,
            tracking_table_name=tracking_table_name,
        )
        schema = Identifier(datastore.schema)
        self.event_ids_table = Identifier(f"{events_table_name}_ids"[:63])
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (event_id text PRIMARY KEY)").format(
                schema, self.event_ids_table
            )
        )
        self.sources_table = Identifier(f"{events_table_name}_sources"[:63])
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (source text PRIMARY KEY, caught_up boolean NOT NULL)"
            ).format(schema, self.sources_table),
            # When a batch last advanced the source's position (stalls show in /readyz).
            SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS advanced_at bigint").format(
                schema, self.sources_table),
        ]
        self.letters_table = Identifier(f"{events_table_name}_dead_letters"[:63])
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (source text NOT NULL, position bigint NOT NULL,"
                " key bytea, value bytea, headers bytea NOT NULL, reason text NOT NULL,"
                " rejected_at bigint NOT NULL, published_at bigint, leased_until bigint,"
                " PRIMARY KEY (source, position))").format(schema, self.letters_table),
            # Letters recorded before these columns read as class "unknown", no timestamp.
            SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS error_class text,"
                " ADD COLUMN IF NOT EXISTS record_timestamp bigint").format(
                schema, self.letters_table),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (rejected_at) WHERE published_at IS NULL"
                ).format(Identifier(f"{events_table_name}_dead_letters_pending"[:63]),
                         schema, self.letters_table),
        ]
        self._merges_name = f"{events_table_name}_merges"[:63]
        self._schema_name = f"{events_table_name}_schema"[:63]  # the fingerprint of what is made
        self.merges_table = Identifier(self._merges_name)
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (duplicate_id text PRIMARY KEY,"
                " survivor_id text NOT NULL)").format(schema, self.merges_table),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (survivor_id)").format(
                Identifier(f"{events_table_name}_merges_survivor"[:63]), schema,
                self.merges_table),
        ]
        self._insert_letters = SQL(
            "INSERT INTO {}.{} (source, position, key, value, headers, reason, rejected_at,"
            " error_class, record_timestamp)"
            " SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bytea[], %b::bytea[],"
            " %b::bytea[], %b::text[], %b::bigint[], %b::text[], %b::bigint[])"
            " ON CONFLICT (source, position) DO NOTHING"
        ).format(schema, self.letters_table)
        # Relays of several consumers share the table: each leases the letters it publishes.
        self._lease_letters = SQL(
            "UPDATE {}.{} AS l SET leased_until = %s FROM (SELECT source, position FROM {}.{}"
            " WHERE published_at IS NULL AND (leased_until IS NULL OR leased_until < %s)"
            " ORDER BY rejected_at, source, position LIMIT %s FOR UPDATE SKIP LOCKED) AS due"
            " WHERE l.source = due.source AND l.position = due.position"
            " RETURNING l.source, l.position, l.key, l.value, l.headers, l.reason, l.rejected_at,"
            " l.error_class, l.record_timestamp"
        ).format(schema, self.letters_table, schema, self.letters_table)
        self._publish_letters = SQL(
            "UPDATE {}.{} SET published_at = %s FROM unnest(%b::text[], %b::bigint[])"
            " AS done(source, position) WHERE {}.source = done.source"
            " AND {}.position = done.position"
        ).format(schema, self.letters_table, self.letters_table, self.letters_table)
        self._count_letters = SQL(
            "SELECT count(*) AS recorded, count(*) FILTER (WHERE published_at IS NULL) AS pending"
            " FROM {}.{}").format(schema, self.letters_table)
        self._set_merges = SQL(
            "INSERT INTO {}.{} (duplicate_id, survivor_id) SELECT * FROM unnest(%b::text[],"
            " %b::text[]) ON CONFLICT (duplicate_id) DO UPDATE SET survivor_id = excluded.survivor_id"
        ).format(schema, self.merges_table)
        self._drop_merges = SQL("DELETE FROM {}.{} WHERE duplicate_id = ANY(%b::text[])").format(
            schema, self.merges_table)
        self._select_merge_links = SQL(
            "WITH RECURSIVE up(id, hops) AS ("
            " SELECT unnest(%b::text[]), 0"
            " UNION SELECT m.survivor_id, up.hops + 1 FROM {}.{} m JOIN up ON m.duplicate_id = up.id"
            " WHERE up.hops <= %s),"
            " down(id, hops) AS ("
            " SELECT id, 0 FROM up"
            " UNION SELECT m.duplicate_id, down.hops + 1 FROM {}.{} m JOIN down"
            " ON m.survivor_id = down.id WHERE down.hops <= %s)"
            " SELECT duplicate_id, survivor_id FROM {}.{}"
            " WHERE survivor_id IN (SELECT id FROM down)"
        ).format(schema, self.merges_table, schema, self.merges_table, schema, self.merges_table)
        self._merges_exist = SQL("SELECT to_regclass(%s::text) IS NOT NULL AS found")
        self.keys_table = Identifier(f"{events_table_name}_keys"[:63])
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (originator_id uuid PRIMARY KEY, key bytea)").format(
                schema, self.keys_table
            )
        )
        self._insert_keys = SQL(
            "INSERT INTO {}.{} (originator_id, key) SELECT * FROM unnest(%b::uuid[], %b::bytea[])"
        ).format(schema, self.keys_table)
        self._erase_keys = SQL(
            "INSERT INTO {}.{} (originator_id, key) SELECT unnest(%s::uuid[]), NULL "
            "ON CONFLICT (originator_id) DO UPDATE SET key = NULL"
        ).format(schema, self.keys_table)
        self._select_keys = SQL(
            "SELECT originator_id, key FROM {}.{} WHERE originator_id = ANY(%s)"
        ).format(schema, self.keys_table)
        self._insert_stored = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(schema, Identifier(self.events_table_name),
                 Identifier(datastore.originator_id_type))
        self._upsert_source = SQL(
            "INSERT INTO {}.{} (source, caught_up, advanced_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (source) DO UPDATE SET caught_up = excluded.caught_up,"
            " advanced_at = excluded.advanced_at"
        ).format(schema, self.sources_table)
        self._select_sources = SQL("SELECT source, caught_up, advanced_at FROM {}.{}").format(
            schema, self.sources_table
        )
        self._insert_ids = SQL("INSERT INTO {}.{} (event_id) SELECT unnest(%b::text[])").format(
            schema, self.event_ids_table
        )
        self._select_ids = SQL("SELECT event_id FROM {}.{} WHERE event_id = ANY(%s)").format(
            schema, self.event_ids_table
        )
        self._select_versions = SQL(
            "SELECT originator_id, max(originator_version) AS version FROM {}.{} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(schema, Identifier(self.events_table_name))
        self._select_streams = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "JOIN unnest(%b::uuid[], %b::bigint[]) AS wanted(id, after) "
            "ON originator_id = wanted.id AND originator_version > wanted.after "
            "WHERE cardinality(%b::text[]) = 0 OR topic = ANY(%b::text[]) "
            "ORDER BY originator_id, originator_version"
        ).format(schema, Identifier(self.events_table_name))
        self._select_positions = SQL(
            "SELECT application_name, notification_id FROM {}.{} WHERE application_name = ANY(%s)"
        ).format(schema, Identifier(self.tracking_table_name))

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        """The library's insert, with the history's ``HistoryWrite`` (``write=``) first."""
        write: HistoryWrite = kwargs.get("write") or HistoryWrite()
        positions = write.positions
        for tracking in positions:
            self._insert_tracking(curs, tracking)
        event_ids = write.event_ids
        if event_ids:
            curs.execute(self._insert_ids, (list(event_ids),))
        caught_up = write.caught_up
        now = to_micros(datetime.now(UTC))
        for source, done in caught_up.items():
            curs.execute(self._upsert_source, (source, done, now))
        letters = write.dead_letters
        if letters:
            curs.execute(self._insert_letters, (
                [x.source for x in letters], [x.position for x in letters],
                [x.message.key for x in letters], [x.message.value for x in letters],
                [encode_headers(x.message.headers) for x in letters],
                [x.reason for x in letters], [to_micros(x.rejected_at) for x in letters],
                [x.error_class for x in letters], [x.message.timestamp_ms for x in letters]))
        merges = write.merges
        linked = {d: s for d, s in merges.items() if s is not None}
        if linked:
            curs.execute(self._set_merges, (list(linked), list(linked.values())))
        if len(linked) < len(merges):
            curs.execute(self._drop_merges, ([d for d, s in merges.items() if s is None],))
        new_keys = write.new_keys
        if new_keys:
            curs.execute(self._insert_keys, (list(new_keys), list(new_keys.values())))
        erased = write.erased
        if erased:
            curs.execute(self._erase_keys, (list(erased),))
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_stored,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        return None

    def create_table(self) -> None:
        """Make the tables, indexes and functions, unless the schema already holds exactly
        these (its fingerprint says so). A process starting beside running consumers
        must not take their tables' locks: ``CREATE INDEX IF NOT EXISTS`` locks the table
        before it looks, ``ALTER TABLE`` locks it outright, and the two can deadlock
        with a consumer's insert."""
        fingerprint = hashlib.sha256("\n".join(
            s.as_string() for s in self.sql_create_statements).encode()).hexdigest()
        marker = f'"{self.datastore.schema}"."{self._schema_name}"'
        tables = [self.events_table_name, self.tracking_table_name, self._merges_name,
                  *(f"{self.events_table_name}_{kind}"[:63]
                    for kind in ("ids", "sources", "dead_letters", "keys"))]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT bool_and(to_regclass(name) IS NOT NULL) AS found"
                         " FROM unnest(%s::text[]) AS name",
                         ([f'"{self.datastore.schema}"."{t}"' for t in [self._schema_name, *tables]],))
            made = curs.fetchone()["found"]  # type: ignore[index]
            if made:  # every table is there, and made by these very statements
                curs.execute(f"SELECT fingerprint FROM {marker}")  # noqa: S608 - our identifier
                made = [row["fingerprint"] for row in curs.fetchall()] == [fingerprint]
            curs.execute(self._merges_exist,
                         (f'"{self.datastore.schema}"."{self._merges_name}"',))
            existed = curs.fetchone()["found"]  # type: ignore[index]
        self.merges_table_created = not existed
        if made:
            self.datastore.register_type_adapters()
            return
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"CREATE TABLE IF NOT EXISTS {marker} (fingerprint text NOT NULL)")
            curs.execute(f"DELETE FROM {marker}")  # noqa: S608 - our identifier
            curs.execute(f"INSERT INTO {marker} (fingerprint) VALUES (%s)",  # noqa: S608
                         (fingerprint,))

    def sources_caught_up(self) -> dict[str, bool]:
        with self.datastore.cursor() as curs:
            curs.execute(self._select_sources)
            return {row["source"]: row["caught_up"] for row in curs.fetchall()}

    def source_progress(self) -> dict[str, datetime]:
        with self.datastore.cursor() as curs:
            curs.execute(self._select_sources)
            return {row["source"]: from_micros(row["advanced_at"]) for row in curs.fetchall()
                    if row["advanced_at"] is not None}

    def merge_links(self, customer_ids: Sequence[str]) -> dict[str, str]:
        if not customer_ids:
            return {}
        with self.datastore.cursor() as curs:
            curs.execute(self._select_merge_links,
                         (list(customer_ids), MAX_MERGE_DEPTH + 1, MAX_MERGE_DEPTH + 1))
            return {row["duplicate_id"]: row["survivor_id"] for row in curs.fetchall()}

    def lease_dead_letters(self, limit: int, seconds: float) -> list[DeadLetter]:
        now = datetime.now(UTC)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._lease_letters, (to_micros(now) + int(seconds * 1e6),
                                               to_micros(now), limit))
            letters = [DeadLetter(row["source"], row["position"],
                                  Message(_bytes(row["key"]), _bytes(row["value"]),
                                          decode_headers(bytes(row["headers"])),
                                          row["record_timestamp"]),
                                  row["reason"], from_micros(row["rejected_at"]),
                                  row["error_class"] or UNKNOWN_CLASS)
                       for row in curs.fetchall()]
        return sorted(letters, key=lambda x: (x.rejected_at, x.source, x.position))

    def mark_dead_letters_published(self, letters: Sequence[tuple[str, int]],
                                    at: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._publish_letters, (to_micros(at), [s for s, _ in letters],
                                                 [p for _, p in letters]))

    def dead_letter_counts(self) -> tuple[int, int]:
        with self.datastore.cursor() as curs:
            curs.execute(self._count_letters)
            row = curs.fetchone()
            return (int(row["recorded"]), int(row["pending"])) if row else (0, 0)

    def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        with self.datastore.cursor() as curs:
            curs.execute(self._select_ids, (list(event_ids),))
            return {row["event_id"] for row in curs.fetchall()}

    def customer_keys(self, stream_ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        if not stream_ids:
            return {}
        with self.datastore.cursor() as curs:
            curs.execute(self._select_keys, (list(stream_ids),))
            return {
                row["originator_id"]: None if row["key"] is None else bytes(row["key"])
                for row in curs.fetchall()
            }

    def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        if not stream_ids:
            return {}
        with self.datastore.cursor() as curs:
            curs.execute(self._select_versions, (list(stream_ids),))
            return {row["originator_id"]: row["version"] for row in curs.fetchall()}

    def select_streams(self, stream_ids: Sequence[UUID], topics: Sequence[str] = (),
                       after: Mapping[UUID, int] | None = None) -> list[StoredEvent]:
        if not stream_ids:
            return []
        after = after or {}
        with self.datastore.cursor() as curs:
            curs.execute(self._select_streams, (
                list(stream_ids), [after.get(s, 0) for s in stream_ids], list(topics), list(topics)))
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def positions(self, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        with self.datastore.cursor() as curs:
            curs.execute(self._select_positions, (list(names),))
            return {row["application_name"]: row["notification_id"] for row in curs.fetchall()}


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)
