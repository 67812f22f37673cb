"""The SLA what-if over the store: every complaint replayed under a candidate policy book.

A *scratch generation*: the complaint facts are read from the store (only the complaint
topics, in batches, no personal field) and folded in memory, each complaint kept as
only what the SLA rules read (``ComplaintStep``: type, time, priority, category).
Nothing is written: no read-model table, no alert, no outbox row, no tracking record;
so nothing is published, and running it while the service runs changes nothing there.
Memory grows with the number of complaints judged (``since``/``until`` bound it by
opening time); a complaint opened outside the window is dropped as soon as its opening
is read. When either book targets segments or tiers, the customers' account facts (or
orders, contacts and surveys) are read too, into one ``StandingFold`` per customer
(``domain/sla_standing.py``): the same standing the live SLA clock gives a complaint.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.facts import FACT_CLASSES, stored_topic
from domain.sla_policy import PolicyBook
from domain.sla_standing import Standings, standing_types
from domain.sla_verdicts import ComplaintStep
from domain.sla_whatif import ComplaintRecord, OpeningWindow, WhatIf, what_if
from history.customer_history import CustomerHistory

COMPLAINT_TOPICS = tuple(stored_topic(t) for t in FACT_CLASSES if t.startswith("crm.complaint."))
_OPENED = "crm.complaint.opened"

#: No bound on opening time.
EVERY_OPENING = OpeningWindow()
#: Called with (store position read, last position of the store) after each batch.
Progress = Callable[[int, int], None]


def complaint_records(history: CustomerHistory, window: OpeningWindow = EVERY_OPENING, *,
                      batch_size: int = 2000, on_progress: Progress | None = None,
                      targeting: frozenset[str] = frozenset()) -> list[ComplaintRecord]:
    """Every complaint of the store opened in ``window`` (and those whose opening is not
    recorded, which the what-if counts as unjudged), with its steps; ``targeting``: what
    of the customers' standing the books target (``PolicyBook.targeting``)."""
    total = history.recorder.max_notification_id() or 0
    kept: dict[tuple[str, str], ComplaintRecord] = {}
    outside: set[tuple[str, str]] = set()
    standings = Standings(targeting)
    topics = COMPLAINT_TOPICS + tuple(sorted(stored_topic(t) for t in standing_types(targeting)))
    position = 0
    while batch := history.recorder.select_notifications(
            start=position, limit=batch_size, topics=topics, inclusive_of_start=False):
        for stored, fact in zip(batch, history.facts_of(batch, personal_data=False), strict=True):
            if not fact.event_type.startswith("crm.complaint."):
                standings.note(fact.customer_id, fact)
                continue
            key = (fact.customer_id, fact.data["complaint_id"])
            if key in outside:
                continue
            if fact.event_type == _OPENED and not window.holds(fact.occurred_at):
                outside.add(key)
                kept.pop(key, None)
                continue
            record = kept.get(key) or kept.setdefault(key, ComplaintRecord(
                *key, standing=standings.of(key[0]) if targeting else None))
            record.steps.append(ComplaintStep(
                key[1], fact.event_type, fact.occurred_at, stored.id,
                fact.data.get("priority"), fact.data.get("category")))
        position = batch[-1].id
        if on_progress:
            on_progress(position, max(total, position))
    if on_progress:
        on_progress(max(total, position), max(total, position))
    return list(kept.values())


def sla_what_if(history: CustomerHistory, current: PolicyBook, candidate: PolicyBook, *,
                as_of: datetime | None = None, window: OpeningWindow = EVERY_OPENING,
                apply_to_open: bool = False, batch_size: int = 2000,
                on_progress: Progress | None = None) -> WhatIf:
    """The complaints of ``window`` judged under both books as of ``as_of`` (default: now,
    as the SLA clock judges once ingestion has caught up)."""
    as_of = as_of or datetime.now(UTC)
    records = complaint_records(history, window, batch_size=batch_size, on_progress=on_progress,
                                targeting=current.targeting | candidate.targeting)
    return what_if(records, current, candidate, as_of, apply_to_open=apply_to_open)
