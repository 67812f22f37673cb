"""Reports that count customers, where a merged customer counts once.

A :class:`CustomerReport` keeps one small state per customer id (folded from that
id's facts) and counts each *merge group* as one customer: the state of a group of
several ids is ``merged`` of its members' states, and it is what the rows hold.
When a fact changes a state, or a merge or an unmerge changes a group, the group's
old state is uncounted and its new one counted, so the rows always equal a plain
loop over the groups as they stand, and an unmerge leaves them as if the merge had
never been (facts stay filed under the id they were sent for).

Memory: ``customer:ID`` (the id's own state), ``merge:ID`` (the survivor it was merged
into, and the duplicates merged into it; only for ids ever merged), ``group:ROOT``
(the state counted for a group of several ids).

Merge groups cross projector shards (a duplicate's facts are in its own shard), so a
customer report is built by the first shard alone, from every customer's facts; the
other shards' tables stay empty (``ReportProjection``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from domain.facts import CustomerFact
from domain.merges import MAX_GROUP_SIZE, MAX_MERGE_DEPTH
from projections.reports.base import Doc, Report, ReportRows

MERGES = frozenset({"crm.account.merged", "crm.account.unmerged"})


class CustomerReport(Report):
    """A report over customers: ``record`` folds a fact into one id's state, ``merged``
    makes one customer of a merge group's states, ``count`` adds (or with ``sign`` -1
    takes away) one customer's state in the rows. Declare ``customer_reads``; ``reads``
    adds the merge facts."""

    customer_reads: ClassVar[frozenset[str]]
    per_group: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "customer_reads" in cls.__dict__:
            cls.reads = cls.customer_reads | MERGES

    @abstractmethod
    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        """The id's state after ``fact`` (``state`` None: its first fact here), as a new
        dict; None: ``fact`` changes nothing."""

    @abstractmethod
    def merged(self, states: list[Doc]) -> Doc:
        """One customer of a merge group's states (the root's first, the rest in merge
        order)."""

    @abstractmethod
    def count(self, rows: ReportRows, state: Doc, sign: int) -> None:
        """Add one customer in ``state`` to the rows (``sign`` +1), or take it away (-1)."""

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        keys = (f"customer:{fact.customer_id}", f"merge:{fact.customer_id}")
        if fact.event_type in MERGES:
            duplicate = fact.data["duplicate_customer_id"]
            keys += (f"customer:{duplicate}", f"merge:{duplicate}")
        return keys

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        if fact.event_type in MERGES:
            survivor, duplicate = fact.customer_id, fact.data["duplicate_customer_id"]
            roots = {_root(rows, survivor), _root(rows, duplicate)}
            if fact.event_type == "crm.account.merged" and len(roots) == 1:
                return  # already one group: a merge changes nothing
            before = {root: self._counted(rows, root) for root in roots}
            if fact.event_type == "crm.account.merged":
                _link(rows, survivor, duplicate)
            else:
                _unlink(rows, survivor, duplicate)
            affected = roots | {_root(rows, survivor), _root(rows, duplicate)}
            self._recount(rows, {root: before.get(root) for root in affected})
            return
        key = f"customer:{fact.customer_id}"
        known = rows.recall(key)
        state = self.record(rows, known, fact)
        if state is None:
            return
        if rows.recall(f"merge:{fact.customer_id}") is None:  # never merged: itself alone
            rows.remember(key, state)
            if state != known:
                self.change(rows, known, state)
            return
        root = _root(rows, fact.customer_id)
        before = self._counted(rows, root)
        rows.remember(key, state)
        self._recount(rows, {root: before})

    def _counted(self, rows: ReportRows, root: str) -> Doc | None:
        """What the rows hold for the group of ``root``."""
        if len(_members(rows, root)) == 1:
            return rows.recall(f"customer:{root}")
        return rows.recall(f"group:{root}")

    def _recount(self, rows: ReportRows, before: dict[str, Doc | None]) -> None:
        """Uncount each group's state in ``before`` and count its state now."""
        for root in sorted(before):
            # A root merged into another group now counts in that group, not on its own.
            members = _members(rows, root) if _root(rows, root) == root else []
            states = [s for s in (rows.recall(f"customer:{m}") for m in members) if s is not None]
            now = None if not states else states[0] if len(states) == 1 else self.merged(states)
            if len(members) > 1:
                rows.remember(f"group:{root}", now)
            elif rows.recall(f"merge:{root}") is not None and rows.recall(f"group:{root}"):
                rows.remember(f"group:{root}", None)  # no longer a group (never one: no query)
            if now != before[root]:
                self.change(rows, before[root], now)

    def change(self, rows: ReportRows, before: Doc | None, now: Doc | None) -> None:
        """Move one customer from ``before`` to ``now`` in the rows (None: not counted):
        uncounted, then counted again. A report may do it in fewer steps."""
        if before is not None:
            self.count(rows, before, -1)
        if now is not None:
            self.count(rows, now, +1)


def _merge_doc(rows: ReportRows, customer_id: str) -> Doc:
    return dict(rows.recall(f"merge:{customer_id}") or {"into": None, "duplicates": []})


def _root(rows: ReportRows, customer_id: str) -> str:
    current = customer_id
    for _ in range(MAX_MERGE_DEPTH + 1):
        into = (rows.recall(f"merge:{current}") or {}).get("into")
        if into is None:
            return current
        current = into
    return current


def _members(rows: ReportRows, root: str) -> list[str]:
    """The ids of ``root``'s group, the root first, then in merge order, level by level."""
    members, level = [root], [root]
    while level and len(members) <= MAX_GROUP_SIZE:
        level = [d for m in level for d in (rows.recall(f"merge:{m}") or {}).get("duplicates", ())]
        members += level
    return members


def _link(rows: ReportRows, survivor: str, duplicate: str) -> None:
    moved = _merge_doc(rows, duplicate)
    if moved["into"] is not None:  # merged elsewhere before: it moves, with its own duplicates
        _unlink(rows, moved["into"], duplicate)
        moved = _merge_doc(rows, duplicate)
    kept = _merge_doc(rows, survivor)
    kept["duplicates"] = [*kept["duplicates"], duplicate]
    moved["into"] = survivor
    rows.remember(f"merge:{survivor}", kept)
    rows.remember(f"merge:{duplicate}", moved)


def _unlink(rows: ReportRows, survivor: str, duplicate: str) -> None:
    moved = _merge_doc(rows, duplicate)
    if moved["into"] != survivor:
        return  # not merged into it: nothing to undo
    kept = _merge_doc(rows, survivor)
    kept["duplicates"] = [d for d in kept["duplicates"] if d != duplicate]
    moved["into"] = None
    rows.remember(f"merge:{survivor}", kept)
    rows.remember(f"merge:{duplicate}", moved)
