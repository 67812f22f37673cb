"""Which storage failures are the data's fault, and how to pace retries of the others.

A write fails either because of what it writes (PostgreSQL refuses NUL in text,
a value too large for an index, a read model's rule raising on a fact) or
because of where it writes (the connection dropped, the server restarts, a
serialisation conflict, a pool exhausted). Retrying helps only the second kind;
retrying the first forever stalls a partition or a read model behind one
message. So the first kind is narrowed down to the records at fault, which are
dead-lettered or set aside, and the second kind is retried with a capped
backoff and a log line now and then instead of one per attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from eventsourcing.persistence import DataError, IntegrityError, OperationalError, PersistenceError

#: SQLSTATE classes that name the data: 22 data exception (NUL in text, value out of
#: range), 54 program limit exceeded (a row too large for an index).
_DATA_SQLSTATE_CLASSES = ("22", "54")
#: Integrity violations that name the data rather than a concurrent writer.
_DATA_SQLSTATES = ("23502", "23514")  # not null, check
_SQLITE_DATA_MESSAGES = ("NOT NULL constraint failed", "CHECK constraint failed")


def is_data_fault(error: BaseException) -> bool:
    """Whether ``error`` comes from what was written, so writing it again fails again.

    Database errors are the database's fault unless their SQLSTATE names the data;
    any other exception raised while turning a record into rows (a rule meeting a
    value it cannot handle, an encoder refusing a string) is the record's.
    """
    cause = error.__cause__ if isinstance(error, PersistenceError) else error
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if isinstance(error, DataError):
        return True
    if isinstance(error, IntegrityError):
        return sqlstate in _DATA_SQLSTATES or any(m in str(error) for m in _SQLITE_DATA_MESSAGES)
    if isinstance(error, OperationalError | PersistenceError):
        return sqlstate[:2] in _DATA_SQLSTATE_CLASSES
    if _is_driver_error(cause):
        return sqlstate[:2] in _DATA_SQLSTATE_CLASSES or type(cause).__name__ == "DataError"
    return not isinstance(error, OSError | MemoryError)


def _is_driver_error(error: BaseException | None) -> bool:
    """psycopg's and sqlite3's own exceptions, where they escape untranslated."""
    module = type(error).__module__ if error is not None else ""
    return module.startswith(("psycopg", "sqlite3"))


def explain(error: BaseException) -> str:
    """The failure in one line, for a dead letter's or a set-aside fact's reason: the first
    line of its message (a database's DETAIL lines may quote the data)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}"[:500] if lines else type(error).__name__


@dataclass
class RetryPacer:
    """Capped exponential backoff, and logs throttled to one line per ``log_every``.

    The first failure of a run is logged whole (with the traceback); later ones
    only when ``log_every`` has passed since the last line, with the count so far.
    A success resets both.
    """

    what: str
    log: logging.Logger
    first_pause: float = 1.0
    max_pause: float = 30.0
    log_every: float = 30.0
    failures: int = 0
    _logged_at: float = field(default=0.0, repr=False)

    def failed(self, error: BaseException) -> float:
        """Note a failure; return how long to wait before the next attempt."""
        self.failures += 1
        pause = min(self.max_pause, self.first_pause * 2 ** (self.failures - 1))
        now = time.monotonic()
        if self.failures == 1:
            self.log.error("%s failed; retrying in %g s", self.what, pause, exc_info=error)
            self._logged_at = now
        elif now - self._logged_at >= self.log_every:
            self.log.error("%s still failing after %d attempts (%s); retrying in %g s",
                           self.what, self.failures, explain(error), pause)
            self._logged_at = now
        return pause

    def succeeded(self) -> None:
        if self.failures:
            self.log.info("%s works again after %d failed attempts", self.what, self.failures)
        self.failures = 0
