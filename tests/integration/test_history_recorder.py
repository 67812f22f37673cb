"""The history's recorders by contract: one set of tests, run against both backends.

The library's own process-recorder test case checks what every process recorder must
do (events and tracking in one transaction, positions that only grow); the contract
below checks what the customer history adds (``history/recorder.py``): event ids,
customer keys, source progress, dead letters and merge pointers, written with the
events by one ``HistoryWrite``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.tests.persistence import ProcessRecorderTestCase

from history.arrivals import Message
from history.recorder import DeadLetter, HistoryRecorder, HistoryWrite
from service import bootstrap
from service.settings import load_settings

pytestmark = pytest.mark.integration


def open_recorder(store: str, where: Path) -> tuple[HistoryRecorder, Any]:
    """A fresh history recorder on ``store`` (a PostgreSQL schema, or an SQLite file)."""
    settings = (load_settings(store="postgres", postgres_schema=f"t_{uuid.uuid4().hex[:12]}")
                if store == "postgres"
                else load_settings(store="sqlite", sqlite_path=where / f"{uuid.uuid4().hex}.db"))
    history = bootstrap.build_history(settings)
    return history.recorder, history


class _LibraryContract(ProcessRecorderTestCase):
    """The library's process-recorder tests, on one backend (``store``)."""

    __test__ = False  # a base: its subclasses, one per backend, are the tests
    store = "postgres"
    test_performance = None  # timing belongs in bench/, not in tests

    def create_recorder(self) -> HistoryRecorder:
        recorder, history = open_recorder(self.store, Path(self._tmp))
        self.addCleanup(history.close)
        return recorder

    def setUp(self) -> None:
        self._tmp = tempfile.mkdtemp(prefix="crm-recorder-")


@pytest.mark.usefixtures("postgres_server")
class TestThePostgresRecorderKeepsTheLibrarysContract(_LibraryContract):
    __test__ = True
    store = "postgres"


class TestTheSQLiteRecorderKeepsTheLibrarysContract(_LibraryContract):
    __test__ = True
    store = "sqlite"


@pytest.fixture(params=["postgres", "sqlite"])
def recorder(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
    recorder, history = open_recorder(request.param, tmp_path)
    yield recorder
    history.close()


def stored(stream: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(stream, version, "domain.facts:ContactLogged", b'{"data": {}}')


def test_one_write_records_events_ids_positions_and_keys_together(recorder: HistoryRecorder) -> None:
    stream, erased = uuid.uuid4(), uuid.uuid4()
    recorder.write([stored(stream, 1)], HistoryWrite(
        positions=[Tracking("kafka:t/0", 5)], event_ids=["e-1"], caught_up={"kafka:t/0": True},
        new_keys={stream: b"k" * 32, erased: b"x" * 32}))
    recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 6)], erased=[erased]))

    assert recorder.positions(["kafka:t/0", "kafka:t/1"]) == {"kafka:t/0": 6}
    assert recorder.known_event_ids(["e-1", "e-2"]) == {"e-1"}
    assert recorder.customer_keys([stream, erased]) == {stream: b"k" * 32, erased: None}
    assert recorder.stream_versions([stream]) == {stream: 1}
    assert [e.originator_version for e in recorder.select_streams([stream])] == [1]
    assert recorder.sources_caught_up() == {"kafka:t/0": True}
    (advanced,) = recorder.source_progress().values()
    assert abs(advanced - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_write_that_conflicts_changes_nothing(recorder: HistoryRecorder) -> None:
    recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 5)], event_ids=["e-1"]))
    with pytest.raises(IntegrityError):  # a position not past the stored one
        recorder.write([stored(uuid.uuid4(), 1)],
                       HistoryWrite(positions=[Tracking("kafka:t/0", 5)], event_ids=["e-2"]))
    assert recorder.known_event_ids(["e-2"]) == set()
    with pytest.raises(IntegrityError):  # an event id stored before
        recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 6)], event_ids=["e-1"]))
    assert recorder.positions(["kafka:t/0"]) == {"kafka:t/0": 5}


def test_dead_letters_are_kept_once_leased_to_one_relay_and_marked(
        recorder: HistoryRecorder) -> None:
    now = datetime.now(UTC)
    letter = DeadLetter("kafka:t/0", 3, Message(b"k", b"\x00value", (("h\x00", b"\xff"),)),
                        "bad", now)
    recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 3)], dead_letters=[letter]))
    recorder.write([], HistoryWrite(dead_letters=[letter]))  # again: ignored
    assert recorder.dead_letter_counts() == (1, 1)

    (leased,) = recorder.lease_dead_letters(10, 60)
    assert (leased.source, leased.position, leased.message, leased.reason) == (
        "kafka:t/0", 3, letter.message, "bad")
    assert recorder.lease_dead_letters(10, 60) == []  # another relay finds it leased
    recorder.mark_dead_letters_published([("kafka:t/0", 3)], now)
    assert recorder.dead_letter_counts() == (1, 0)


def test_a_dead_letter_keeps_its_error_class_and_record_timestamp(
        recorder: HistoryRecorder) -> None:
    now = datetime.now(UTC)
    letter = DeadLetter("kafka:t/0", 4, Message(b"k", b"{", (), 1_764_000_000_123), "bad json",
                        now, "not_json")
    old = DeadLetter("kafka:t/0", 5, Message(b"k", b"{"), "bad", now)  # a caller of before
    recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 5)],
                                    dead_letters=[letter, old]))
    recorder.write([], HistoryWrite(dead_letters=[letter]))
    leased = {x.position: x for x in recorder.lease_dead_letters(10, 60)}
    assert (leased[4].error_class, leased[4].message.timestamp_ms) == ("not_json", 1_764_000_000_123)
    assert leased[4].message == letter.message
    assert (leased[5].error_class, leased[5].message.timestamp_ms) == ("unknown", None)


def test_dead_letters_recorded_before_classes_existed_read_as_unknown(
        recorder: HistoryRecorder) -> None:
    """A row of an earlier release has no class (NULL): it reads as "unknown"."""
    now = datetime.now(UTC)
    letter = DeadLetter("kafka:t/0", 6, Message(None, b"x"), "bad", now, "schema")
    recorder.write([], HistoryWrite(positions=[Tracking("kafka:t/0", 6)], dead_letters=[letter]))
    table = recorder.letters_table  # type: ignore[attr-defined]
    with recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        if isinstance(table, str):
            cursor.execute(f"UPDATE {table} SET error_class = NULL")
        else:
            from psycopg.sql import SQL, Identifier
            cursor.execute(SQL("UPDATE {}.{} SET error_class = NULL").format(
                Identifier(recorder.datastore.schema), table))  # type: ignore[attr-defined]
    (leased,) = recorder.lease_dead_letters(10, 60)
    assert leased.error_class == "unknown" and leased.reason == "bad"


def test_merge_pointers_of_whole_groups_are_read_from_any_member(
        recorder: HistoryRecorder) -> None:
    recorder.write([], HistoryWrite(merges={"C-2": "C-1", "C-3": "C-2", "C-9": "C-8"}))
    assert recorder.merge_links(["C-3"]) == {"C-2": "C-1", "C-3": "C-2"}
    recorder.write([], HistoryWrite(merges={"C-3": None}))
    assert recorder.merge_links(["C-1"]) == {"C-2": "C-1"}
    assert recorder.merge_links(["C-7"]) == {}


def test_a_process_starting_beside_busy_consumers_takes_no_lock_on_their_tables(
        postgres_store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the schema is made, starting another process makes nothing again: it must not
    queue behind (or deadlock with) a consumer holding the events table's lock."""
    import threading

    import psycopg

    for name, value in postgres_store.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    bootstrap.build_history(settings).close()
    with psycopg.connect(settings.postgres_dsn()) as consumer:
        consumer.execute(f'SET search_path TO "{settings.postgres_schema}"')
        consumer.execute("LOCK TABLE customerhistory_events, customerhistory_events_sources"
                         " IN ACCESS EXCLUSIVE MODE")  # as if mid-insert, and more
        started = threading.Event()

        def start_another() -> None:
            bootstrap.build_history(settings).close()
            started.set()

        threading.Thread(target=start_another, daemon=True).start()
        assert started.wait(timeout=10), "a starting process waited for the consumer's lock"


def test_an_sqlite_store_of_an_earlier_release_gains_the_dead_letter_columns(
        tmp_path: Path) -> None:
    """A store file made before dead letters had a class: its rows stay readable
    ("unknown"), and new letters keep theirs."""
    path = tmp_path / "earlier.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stored_events_dead_letters (source TEXT NOT NULL,"
                   " position INTEGER NOT NULL, key BLOB, value BLOB, headers BLOB NOT NULL,"
                   " reason TEXT NOT NULL, rejected_at INTEGER NOT NULL, published_at INTEGER,"
                   " leased_until INTEGER, PRIMARY KEY (source, position))")
        db.execute("INSERT INTO stored_events_dead_letters (source, position, key, value, headers,"
                   " reason, rejected_at) VALUES ('kafka:t/0', 1, NULL, X'7B', X'5B5D', 'old', 1)")
    db.close()
    history = bootstrap.build_history(load_settings(store="sqlite", sqlite_path=path))
    try:
        new = DeadLetter("kafka:t/0", 2, Message(None, b"{", (), 5), "new", datetime.now(UTC),
                         "not_json")
        history.recorder.write([], HistoryWrite(dead_letters=[new]))
        leased = history.recorder.lease_dead_letters(10, 60)
        assert [(x.position, x.reason, x.error_class, x.message.timestamp_ms) for x in leased] == [
            (1, "old", "unknown", None), (2, "new", "not_json", 5)]
    finally:
        history.close()
