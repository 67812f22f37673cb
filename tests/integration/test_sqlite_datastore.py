"""The SQLite datastore: a write lends its connection to the same thread's reads, and
takes the file's lock when it begins.

Without the first, a read inside a write (every read model that refolds history does
one) and another thread queued for the writer wait for each other until the pool's
timeout. Without the second, a write that reads first fails at once with "database is
locked" when another process wrote in between (SQLite cannot move its snapshot on).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from history.customer_history import CustomerHistory
from service import bootstrap
from service.settings import load_settings
from storage.sqlite_datastore import SQLiteStore

pytestmark = pytest.mark.integration


def open_store(path: Path) -> tuple[CustomerHistory, SQLiteStore]:
    """The history the service opens on ``path`` (one per process) and its datastore; the
    caller keeps the history, whose end closes the datastore's connections."""
    history = bootstrap.build_history(load_settings(store="sqlite", sqlite_path=path))
    datastore = history.recorder.datastore
    assert isinstance(datastore, SQLiteStore)
    return history, datastore


def test_a_read_inside_a_write_does_not_wait_for_a_thread_queued_for_the_writer(
        tmp_path: Path) -> None:
    _history, datastore = open_store(tmp_path / "history.db")
    assert datastore.pool.pool_timeout == 30  # SQLite's own lock timeout, not the pool's 5 s
    queued_writer_done = threading.Event()

    def queue_for_the_writer() -> None:
        with datastore.transaction(commit=True) as cursor:
            cursor.execute("INSERT INTO t VALUES (2)")
        queued_writer_done.set()

    with datastore.transaction(commit=True) as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER)")
        cursor.execute("INSERT INTO t VALUES (1)")
        other = threading.Thread(target=queue_for_the_writer)
        other.start()
        time.sleep(0.3)  # the other thread now holds the pool's queue, waiting for the writer
        with datastore.transaction(commit=False) as read:
            read.execute("SELECT n FROM t")
            seen = [row[0] for row in read.fetchall()]
    other.join(timeout=10)
    # The write's own uncommitted row: read through its connection. The library's pool
    # stalls this read until its timeout, then serves another connection that cannot see it.
    assert seen == [1]
    assert queued_writer_done.is_set()
    with datastore.transaction(commit=False) as read:
        read.execute("SELECT n FROM t ORDER BY n")
        assert [row[0] for row in read.fetchall()] == [1, 2]


def test_a_write_that_reads_first_waits_for_another_process_instead_of_failing(
        tmp_path: Path) -> None:
    """Two datastores on one file are two processes' connections."""
    (_mine, here), (_theirs, there) = (open_store(tmp_path / "history.db"),
                                       open_store(tmp_path / "history.db"))
    with here.transaction(commit=True) as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER)")
    read_first = threading.Event()
    failures: list[BaseException] = []

    def read_then_write() -> None:
        try:
            with there.transaction(commit=True) as cursor:
                cursor.execute("SELECT count(*) FROM t")
                read_first.set()
                cursor.execute("INSERT INTO t VALUES (2)")
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    with here.transaction(commit=True) as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
        other = threading.Thread(target=read_then_write)
        other.start()
        read_first.wait(timeout=1)  # a deferred transaction reads now, before this commit
    other.join(timeout=10)
    assert not failures, f"the second process's write failed: {failures[0]!r}"
    with here.transaction(commit=False) as read:
        read.execute("SELECT n FROM t ORDER BY n")
        assert [row[0] for row in read.fetchall()] == [1, 2]
