"""Storing a batch so that no record can stall its partition.

The whole batch goes in one transaction when it can. When the store refuses it
for a reason that is the data's (``storage.errors.is_data_fault``: PostgreSQL
refusing a character, a value too large), the batch is split in halves, each
tried alone, until the records at fault are found: each is dead-lettered with
the database's reason, and everything else is stored. Failures of the database
itself (connection lost, server restarting) are raised, for the caller to
retry the batch after a pause: retrying is what helps them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from history.arrivals import Arrival
from history.customer_history import CustomerHistory, RecordingOutcome
from storage.errors import explain, is_data_fault

log = logging.getLogger(__name__)

#: The error class of a record the database refused (``dlq.error.class``).
REFUSED_BY_STORE = "refused_by_store"


def store_batch(history: CustomerHistory, arrivals: Sequence[Arrival],
                caught_up: Mapping[str, bool]) -> RecordingOutcome:
    """Record ``arrivals`` (in source order); dead-letter those the store refuses."""
    last = {a.source: index for index, a in enumerate(arrivals)}
    return _store(history, list(arrivals), 0, caught_up, last)


def _store(history: CustomerHistory, arrivals: list[Arrival], start: int,
           caught_up: Mapping[str, bool], last: Mapping[str, int]) -> RecordingOutcome:
    """Record ``arrivals``, the batch's slice from index ``start``. A source counts as caught
    up only in the slice holding its batch's last record."""
    end = start + len(arrivals)
    flags = {s: caught_up.get(s, False) and start <= i < end for s, i in last.items()}
    try:
        return history.record(arrivals, flags)
    except Exception as error:
        if not is_data_fault(error):
            raise
        if len(arrivals) > 1:
            middle = len(arrivals) // 2
            return (_store(history, arrivals[:middle], start, caught_up, last)
                    + _store(history, arrivals[middle:], start + middle, caught_up, last))
        (arrival,) = arrivals
        if arrival.fact is None:
            raise  # its dead letter itself was refused: the store is at fault, not the message
        log.warning("the event store refused %s@%d; dead-lettering it: %s", arrival.source,
                    arrival.position, explain(error), extra={"event_type": arrival.event_type})
        return history.record([arrival.refused(f"the event store refused it: {explain(error)}",
                                               REFUSED_BY_STORE)], flags)
