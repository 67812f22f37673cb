"""The SQLite datastore lends a write's connection to the same thread's reads.

Without it, a read inside a write (every read model that refolds history does one)
and another thread queued for the writer wait for each other until the pool's timeout.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service import bootstrap
from service.settings import load_settings
from storage.sqlite_datastore import SQLiteStore

pytestmark = pytest.mark.integration


def test_a_read_inside_a_write_does_not_wait_for_a_thread_queued_for_the_writer(
        tmp_path: Path) -> None:
    history = bootstrap.build_history(load_settings(store="sqlite",
                                                    sqlite_path=tmp_path / "history.db"))
    datastore = history.recorder.datastore
    assert isinstance(datastore, SQLiteStore)
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
        started = time.monotonic()
        with datastore.transaction(commit=False) as read:
            read.execute("SELECT n FROM t")
            seen = [row[0] for row in read.fetchall()]
        waited = time.monotonic() - started
    other.join(timeout=10)
    assert seen == [1]  # the write's own row, read through its connection
    assert waited < 5, f"the read waited {waited:.1f} s for the queued writer"
    assert queued_writer_done.is_set()
    with datastore.transaction(commit=False) as read:
        read.execute("SELECT n FROM t ORDER BY n")
        assert [row[0] for row in read.fetchall()] == [1, 2]
