"""The SQLite datastore: one writer per process, and reads made inside a write go through it.

A read model's ``apply`` runs inside a write transaction and often reads the history
(the 360 refolds a customer's streams). With the library's pool that read asks for a
second connection, and the pool lets one thread at a time queue for a connection: a
thread queued for the writer then holds the queue while the writer's owner waits in
it for its read, and both wait until the pool's timeout (a 30 s stall, then a failed
batch). Reading through the writer's own connection needs no second connection, and
sees the write's own rows as well.

A write begins with ``BEGIN IMMEDIATE``, taking the file's write lock at once (waiting
for it as long as the lock timeout says): a deferred transaction that reads first and
then writes fails at once with "database is locked" when another process wrote between.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import Environment
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTransaction,
)


class SQLiteStore(SQLiteDatastore):
    """A datastore whose write transactions lend their connection to the same thread's reads.

    Nested writes are not joined: a write inside a write is a bug that waits for itself."""

    def __init__(self, db_name: str, *, lock_timeout: int | None = None, **options: object):
        super().__init__(db_name, lock_timeout=lock_timeout, **options)  # type: ignore[arg-type]
        # A thread waits its turn for the writer as long as SQLite waits for the file's
        # lock, not the pool's 5 s (which made the relays fail while projections caught up).
        if lock_timeout:
            self.pool.pool_timeout = float(lock_timeout)
        self._writing = threading.local()

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        writer: SQLiteConnection | None = getattr(self._writing, "connection", None)
        if writer is not None and not commit:
            with writer.cursor() as cursor:  # inside this thread's write: read through it
                yield cursor
            return
        if not commit:
            with self.get_connection(commit=False) as connection, \
                    connection.transaction(commit=False) as cursor:
                yield cursor
            return
        with self.get_connection(commit=True) as connection, \
                _WriteTransaction(connection, commit=True) as cursor, cursor:
            self._writing.connection = connection
            try:
                yield cursor
            finally:
                self._writing.connection = None


class _WriteTransaction(SQLiteTransaction):
    """The library's transaction (its commit, rollback and error translation), begun
    with the write lock taken."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class SQLiteStoreFactory(SQLiteFactory):
    """The library's SQLite factory, with :class:`SQLiteStore` as its datastore."""

    def __init__(self, env: Environment | dict[str, str] | None):
        super().__init__(env)
        built = self.datastore
        self.datastore = SQLiteStore(
            built.pool.db_name, lock_timeout=built.pool.lock_timeout,
            single_row_tracking=built.single_row_tracking,
            originator_id_type=built.originator_id_type,
        )
