"""The customer 360 read model: one row per customer, searchable, plus the alerts it raises.

For each batch, every customer group it touches is folded again from the
group's streams in the event store (``domain/customer360.py``), as of the
group's latest event time. Folding whole streams makes each row a function of
the stored facts alone: re-applying a batch, a late event, a merge or an unmerge
all end in the same row, and rows never depend on the wall clock. Alerts have
stable ids and are inserted once. The API folds again as of *now* (scores decay
without new events); this table serves search, listings and reports. A fact the
fold cannot take is skipped, and set aside when its batch comes
(``projections/set_aside.py``): one bad fact does not fail every later fact of
its customer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.customer360 import (
    Customer360,
    CustomerFold,
    Policies,
    by_event_time,
    event_order,
)
from domain.facts import CustomerFact
from domain.personal_data import ERASURE_REQUESTED
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.generation import Generation
from projections.identities import Identities
from projections.kept import KeptPerCustomer
from projections.paging import InvalidCursor
from projections.runner import Positioned
from projections.set_aside import SetAsideBook, Unfolded, feed_each
from schemas.text import printable, text_problem
from storage.errors import explain
from storage.views import SqlCursor, ViewDatabase, select_in, to_micros

log = logging.getLogger(__name__)


def to_json(value: Any) -> Any:
    """JSON-ready: datetimes as RFC 3339, decimals as strings, dataclasses as objects."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):  # field by field: asdict would deep-copy first
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    return value


def view_document(view: Customer360) -> dict[str, Any]:
    document = to_json(view)
    del document["alerts"]
    return document


#: Customers' folds kept between batches, least recently used dropped first: a busy
#: customer's history is fed only its new facts instead of being read and folded again.
_KEPT_FOLDS = 2_000
#: Only customers with at least this many facts are kept.
_KEEP_FROM = 50
#: Facts read at once when folding (bounds the projector's memory).
_FACTS_PER_READ = 20_000


@dataclass
class _Kept:
    members: tuple[str, ...]
    fold: CustomerFold
    versions: dict[str, int] = field(default_factory=dict)

    def takes(self, new: list[CustomerFact]) -> bool:
        """Whether the fold can be fed ``new`` (in event-time order): none sorts before what
        it holds (a late fact), and none is an erasure (the fold holds what it erases)."""
        last = self.fold.last_key
        return not new or not ((last is not None and event_order(new[0]) <= last)
                               or any(f.event_type == ERASURE_REQUESTED for f in new))


_COLUMNS = ("customer_id", "merged_into", "name", "email", "phone_digits", "status",
            "loyalty_score", "loyalty_tier", "last_event_at", "streams", "document",
            "missing", "order_days", "first_order_at", "last_order_at", "owner_id", "owner_name")
#: Columns added after the first release, with their types: a table made before them gets
#: them on start-up (NULL until the row is folded again; ``replay customer360`` fills all).
_ADDED_COLUMNS = {"missing": "TEXT", "order_days": "INTEGER", "first_order_at": "BIGINT",
                  "last_order_at": "BIGINT", "revision": "BIGINT", "owner_id": "TEXT",
                  "owner_name": "TEXT"}
#: ``revision``: the store position of the batch that last wrote the row, so readers that
#: follow the 360 (segments) find the rows changed since they last looked. Not a column of
#: the view itself (``read`` and the rebuild diff leave it out).


@dataclass(frozen=True)
class Current:
    """A group's 360 (as a view and as its document) and its members."""

    view: Customer360
    document: dict[str, Any]
    members: list[str]


@dataclass(frozen=True)
class _Shown:
    fold: CustomerFold  # the fold it was made of, and how many facts that fold held
    folded: int
    current: Current


#: How long the API answers a busy customer's 360 with the view it made last, while no
#: fact arrives (time windows in the 360 are minutes to days long).
VIEW_REUSED_FOR = timedelta(seconds=1)


@dataclass(frozen=True)
class SearchPage:
    customers: list[dict[str, Any]]
    next_cursor: str | None


class Customer360Projection:
    """The 360 rows of one generation (a rebuild writes a new one beside the live one), its
    merge groups, and the queries that read them: search, and who an id resolves to."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policies: Policies,
                 generation: Generation) -> None:
        self.history = history
        self.views = views
        self.generation = generation.number
        self.name = generation.tracking_name
        # Every shard keeps its own copy of the merge pointers, up to date with its own
        # position, so each decides alone, in store order, which groups are its own.
        self.shard = generation.shard
        self.identities = Identities(views, generation.shard_table("customer_aliases"))
        self._sibling_aliases = [views.table(g.shard_table("customer_aliases"))
                                 for g in generation.siblings()]
        self.policies = policies
        self._table_name = generation.table("customer_360")
        self.table = views.table(self._table_name)
        self.alert_book = AlertBook(views)
        self.set_aside = SetAsideBook(views)
        self._kept: KeptPerCustomer[_Kept] = KeptPerCustomer(_KEPT_FOLDS)  # folds, by root
        self._unfolded: list[Unfolded] = []  # facts the fold could not take, this batch
        self._reading = threading.Lock()  # ``current``: API threads share the kept folds
        self._shown: KeptPerCustomer[_Shown] = KeptPerCustomer(_KEPT_FOLDS)  # ``current``'s views

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables(
            [
                *(sql for table in self._sibling_aliases
                  for sql in Identities.create_statements(table)),
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " customer_id TEXT PRIMARY KEY,"
                " merged_into TEXT,"
                " name TEXT, email TEXT, phone_digits TEXT,"
                " status TEXT NOT NULL,"
                " loyalty_score INTEGER, loyalty_tier TEXT,"
                " last_event_at BIGINT,"
                " streams TEXT NOT NULL,"
                " document TEXT NOT NULL,"
                + "".join(f" {name} {kind}," for name, kind in _ADDED_COLUMNS.items()).rstrip(",")
                + ")",
            ]
        )
        views.add_columns(self._table_name, _ADDED_COLUMNS)
        views.add_indexes(self._table_name, {f"{self._table_name}_revision": "revision",
                                             f"{self._table_name}_owner": "owner_id"})

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        touched: list[str] = []
        for item in batch:
            fact = item.fact
            touched.append(fact.customer_id)
            duplicate = fact.data.get("duplicate_customer_id")
            if fact.event_type == "crm.account.merged":
                touched.append(duplicate)
                self.identities.merge(cursor, fact.customer_id, duplicate)
                self.identities.record(cursor, item.position, fact)
            elif fact.event_type == "crm.account.unmerged":
                touched.append(duplicate)
                self.identities.unmerge(cursor, fact.customer_id, duplicate)
                self.identities.record(cursor, item.position, fact)
        groups = dict(self.identities.groups(cursor, touched).values())
        # Another shard's group holding a duplicate of ours: we keep only its marker row.
        markers = [(duplicate, root) for root, members in groups.items()
                   if not self.shard.owns(root) for duplicate in members[1:]
                   if self.shard.owns(duplicate)]
        self._unfolded = []
        self._refresh(cursor, {root: members for root, members in groups.items()
                               if self.shard.owns(root)}, markers,
                      revision=batch[-1].position if batch else None)
        self.set_aside.set_aside_unfolded(cursor, self.name,
                                          {i.fact.event_id: i.position for i in batch},
                                          self._unfolded)

    def _refresh(self, db: SqlCursor, groups: dict[str, list[str]],
                 markers: Sequence[tuple[str, str]] = (), revision: int | None = None) -> None:
        """Fold again each group whose streams changed since its row was written, and write
        the ``markers`` (duplicate, root) of duplicates in other shards' groups.

        Rows remember the stream versions they were folded from, so a catch-up
        folds each customer about once, not once per batch that mentions it.
        """
        versions = self.history.stream_versions([m for members in groups.values() for m in members])
        wanted = {
            root: json.dumps([[m, versions[m]] for m in members])
            for root, members in groups.items()
        }
        written = {}
        if wanted:
            db.execute(
                f"SELECT customer_id, streams, last_event_at FROM {self.table}"
                f" WHERE customer_id IN ({', '.join(['%s'] * len(wanted))})",
                list(wanted),
            )
            written = {row["customer_id"]: row for row in db.fetchall()}
        changed = [root for root, streams in wanted.items()
                   if root not in written or written[root]["streams"] != streams]
        rows = [_marker(duplicate, root) for duplicate, root in markers]
        alerts = []
        for root, (fold, whole) in self._folds_in_slices(changed, groups, versions):
            if fold.last_key is None:
                continue
            view = fold.view(fold.last_key[0])
            row = written.get(root)
            # Alerts of a fold fed only new facts: those not before the written row's last
            # event (a rolled-back batch's alerts come again; repeats are ignored).
            since = None if whole or row is None else row["last_event_at"]
            alerts += [a for a in view.alerts if since is None or to_micros(a.raised_at) >= since]
            document = view_document(view)
            document["merged_ids"] = groups[root][1:]
            rows.append(_row(root, None, view, wanted[root], document))
            rows += [_marker(duplicate, root) for duplicate in groups[root][1:]
                     if self.shard.owns(duplicate)]
        columns = (*_COLUMNS, "revision")
        rows = [(*row, revision) for row in rows]
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
        db.executemany(
            f"INSERT INTO {self.table} ({', '.join(columns)})"
            f" VALUES ({', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT (customer_id) DO UPDATE SET {updates}",
            rows,
        )
        self.alert_book.raise_alerts(db, alerts)


    def _folds_in_slices(self, roots: list[str], groups: dict[str, list[str]],
                         versions: dict[str, int]) -> Iterator[tuple[str, tuple[CustomerFold, bool]]]:
        """``_folds_of`` in slices of about ``_FACTS_PER_READ`` facts to read: catching up,
        the first batch would otherwise read the whole history of every customer in it
        (the store is ahead of the projection) at once."""
        def to_read(root: str) -> int:
            kept = self._kept.get(root)
            return sum(versions[m] - (kept.versions.get(m, 0) if kept else 0)
                       for m in groups[root])

        chunk: list[str] = []
        size = 0
        for root in roots:
            need = to_read(root)
            if chunk and size + need > _FACTS_PER_READ:
                yield from self._folds_of(chunk, groups).items()
                chunk, size = [], 0
            chunk.append(root)
            size += need
        if chunk:
            yield from self._folds_of(chunk, groups).items()

    def _folds_of(self, roots: list[str], groups: dict[str, list[str]]
                  ) -> dict[str, tuple[CustomerFold, bool]]:
        """Each group's fold brought up to date, and whether it was folded whole.

        A kept fold of the same members is fed only the facts past the versions it
        has seen, if they sort after what it holds; otherwise (out of order, an
        erasure, new members) the group is folded whole from its streams.
        """
        kept = {root: self._kept[root] for root in roots
                if root in self._kept and self._kept[root].members == tuple(groups[root])}
        after = {m: kept[root].versions.get(m, 0) for root in kept for m in groups[root]}
        news = self.history.customers_facts([m for root in roots for m in groups[root]],
                                            after=after)
        folds: dict[str, tuple[CustomerFold, bool]] = {}
        again: list[str] = []  # kept folds that cannot take the new facts: read whole
        for root in roots:
            new = by_event_time(f for m in groups[root] for f in news[m])
            entry = kept.get(root)
            if entry is None:  # ``news`` holds its whole streams
                folds[root] = (self._fold_whole(root, new), True)
            elif not entry.takes(new):
                again.append(root)
            else:
                feed_each(new, entry.fold.add, self._unfolded)
                folds[root] = (entry.fold, False)
        streams = self.history.customers_facts([m for root in again for m in groups[root]])
        for root in again:
            folds[root] = (self._fold_whole(
                root, by_event_time(f for m in groups[root] for f in streams[m])), True)
            news.update({m: streams[m] for m in groups[root]})
        skipped = {fact.customer_id for fact, _ in self._unfolded}
        for root, (fold, whole) in folds.items():
            # A small history is cheaper to read again; a fold that skipped a fact may
            # hold half of what that fact did.
            if fold.count < _KEEP_FROM or skipped.intersection(groups[root]):
                self._kept.pop(root, None)
                continue
            # The versions folded are those of the facts read (not a later count, which
            # could name facts recorded meanwhile and never fed to the fold).
            seen = {} if whole else dict(kept[root].versions)
            for member in groups[root]:
                for fact in news[member]:
                    seen[member] = max(seen.get(member, 0), fact.originator_version)
            self._kept.keep(root, _Kept(tuple(groups[root]), fold, seen))
        return folds

    def _fold_whole(self, root: str, facts: list[CustomerFact]) -> CustomerFold:
        fold = CustomerFold(root, self.policies)
        feed_each(facts, fold.add, self._unfolded)
        return fold

    def current(self, customer_id: str, now: datetime) -> Current | None:
        """The 360 of the group ``customer_id`` resolves to, over every fact stored, as of
        ``now``, for the API. None if no fact of the group has happened by ``now``, or one
        lies after it (then fold the facts up to ``now`` instead).

        The group's fold is kept between calls and fed only the facts recorded since
        (ADR 0007 rule 3, on the read side): a busy customer is not read and folded
        whole for every agent looking at it. Its view (tens of milliseconds for a
        history of thousands of orders) is reused for ``VIEW_REUSED_FOR`` while no fact
        arrives: ``as_of`` in the answer says which moment it shows. A fact the rules
        cannot take is left out (the projection sets it aside and raises an alert), not
        answered with a 500.
        """
        root, members = self.group(customer_id)
        unfolded: list[Unfolded] = []
        if root in self._kept:
            current = self._current_kept(root, members, now, unfolded)
        else:  # a short history, or one not read yet: read whole, no other thread waits
            current = self._current_whole(root, members, now, unfolded)
        for fact, error in unfolded:
            log.warning("the 360 of %s leaves out fact %s: %s", printable(root),
                        printable(fact.event_id), explain(error))
        return current

    def _current_whole(self, root: str, members: list[str], now: datetime,
                       unfolded: list[Unfolded]) -> Current | None:
        streams = self.history.customers_facts(members)
        fold = CustomerFold(root, self.policies)
        feed_each(by_event_time(f for m in members for f in streams[m]), fold.add, unfolded)
        if fold.last_key is None or fold.last_key[0] > now:
            return None
        current = _current(fold, members, now)
        if fold.count >= _KEEP_FROM and not unfolded:  # busy: fed, from now on, what comes
            versions = {m: max((f.originator_version for f in streams[m]), default=0)
                        for m in members}
            with self._reading:
                self._kept.keep(root, _Kept(tuple(members), fold, versions))
        return current

    def _current_kept(self, root: str, members: list[str], now: datetime,
                      unfolded: list[Unfolded]) -> Current | None:
        """A kept fold, fed in place what was recorded since. The store is read outside the
        lock (a thread waiting on PostgreSQL must not hold up the others); under it,
        only what the fold has not seen yet is fed, whoever read it."""
        with self._reading:
            entry = self._kept.get(root)
            seen = dict(entry.versions) if entry is not None else {}
        if entry is None or entry.members != tuple(members):
            return self._current_whole(root, members, now, unfolded)
        news = self.history.customers_facts(members, after=seen)
        with self._reading:
            fresh = by_event_time(f for m in members for f in news[m]
                                  if f.originator_version > entry.versions.get(m, 0))
            again = self._kept.get(root) is not entry or not entry.takes(fresh)
            if again:  # replaced meanwhile, a late fact or an erasure: read it whole
                self._kept.pop(root, None)
                self._shown.pop(root, None)
            else:
                return self._feed_and_show(root, members, entry, fresh, now, unfolded)
        return self._current_whole(root, members, now, unfolded)

    def _feed_and_show(self, root: str, members: list[str], entry: _Kept,
                       fresh: list[CustomerFact], now: datetime,
                       unfolded: list[Unfolded]) -> Current | None:
        """Under ``_reading``: feed the kept fold, and show it (the last view, while fresh)."""
        skipped = len(unfolded)
        feed_each(fresh, entry.fold.add, unfolded)
        for fact in fresh:
            entry.versions[fact.customer_id] = max(entry.versions.get(fact.customer_id, 0),
                                                   fact.originator_version)
        if len(unfolded) > skipped:  # a fold that skipped a fact may hold half of it
            self._kept.pop(root, None)
        fold = entry.fold
        if fold.last_key is None or fold.last_key[0] > now:
            return None
        shown = self._shown.get(root)
        if shown is None or shown.fold is not fold or shown.folded != fold.count \
                or not timedelta(0) <= now - shown.current.view.as_of < VIEW_REUSED_FOR:
            shown = _Shown(fold, fold.count, _current(fold, members, now))
            self._shown.keep(root, shown)
        return shown.current

    def group(self, customer_id: str, as_of: datetime | None = None,
              known_at: datetime | None = None) -> tuple[str, list[str]]:
        """The customer an id resolves to after merges, and every id in its group: now, or
        as the merges that happened by ``as_of`` and were recorded by ``known_at`` made it."""
        with self.views.read() as db:
            if as_of is None and known_at is None:
                return self.identities.groups(db, [customer_id])[customer_id]
            now = datetime.now(UTC)
            return self.identities.group_as_of(db, customer_id, as_of or now, known_at or now)

    def roots(self, db: SqlCursor, customer_ids: list[str]) -> dict[str, str]:
        """The root each id resolves to after merges."""
        return {c: root for c, (root, _) in self.identities.groups(db, customer_ids).items()}

    def summaries(self, db: SqlCursor, customer_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Name, e-mail, status and tier of each customer, as search lists them."""
        if not customer_ids:
            return {}
        db.execute("SELECT customer_id, name, email, status, loyalty_score, loyalty_tier"
                   f" FROM {self.table} WHERE customer_id IN"
                   f" ({', '.join(['%s'] * len(customer_ids))})", customer_ids)
        return {row["customer_id"]: row for row in db.fetchall()}

    def owned_by(self, db: SqlCursor, owner_ids: Sequence[str]) -> list[str]:
        """The customers whose current owner is one of ``owner_ids``, with the duplicates
        merged into them (work is addressed to either), in id order. Rows folded before
        the owner columns existed count once folded again (``replay customer360``)."""
        if not owner_ids:
            return []
        db.execute(f"SELECT customer_id FROM {self.table} WHERE merged_into IS NULL AND"
                   f" owner_id IN ({', '.join(['%s'] * len(owner_ids))})", list(owner_ids))
        roots = [row["customer_id"] for row in db.fetchall()]
        merged = select_in(db, f"SELECT customer_id FROM {self.table} WHERE merged_into IN"
                               " ({ids})", roots)
        return sorted([*roots, *(row["customer_id"] for row in merged)])

    def owners(self, db: SqlCursor, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Who each customer is and who owns it now, read from the live rows (a duplicate
        merged away answers with its survivor's): ``customer_id`` (the root),
        ``customer_name`` and ``owner`` (``{id, name}`` or None). Unknown ids are left out."""
        rows = self._owner_rows(db, list(dict.fromkeys(customer_ids)))
        roots = self._owner_rows(db, sorted({r["merged_into"] for r in rows.values()
                                             if r["merged_into"]} - set(rows)))
        found = {}
        for customer_id, row in rows.items():
            root = rows.get(row["merged_into"]) or roots.get(row["merged_into"]) or row
            owner = ({"id": root["owner_id"], "name": root["owner_name"]}
                     if root["owner_id"] else None)
            found[customer_id] = {"customer_id": root["customer_id"],
                                  "customer_name": root["name"], "owner": owner}
        return found

    def _owner_rows(self, db: SqlCursor, customer_ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = select_in(db, "SELECT customer_id, merged_into, name, owner_id, owner_name"
                             f" FROM {self.table} WHERE customer_id IN ({{ids}})", customer_ids)
        return {row["customer_id"]: row for row in rows}

    def rows_after(self, db: SqlCursor, after: str | None, limit: int, *,
                   merged: bool = True) -> list[dict[str, Any]]:
        """The next ``limit`` rows after id ``after``, in id order (with the marker rows of
        merged duplicates unless ``merged`` is False): ``customer_id``, ``merged_into``,
        ``revision`` and the 360 ``document`` as last folded (JSON), for readers that page
        through every customer (exports, segments)."""
        db.execute(f"SELECT customer_id, merged_into, revision, document FROM {self.table}"
                   " WHERE customer_id > %s" + ("" if merged else " AND merged_into IS NULL")
                   + " ORDER BY customer_id LIMIT %s", [after or "", limit])
        return db.fetchall()

    def rows_of(self, db: SqlCursor, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of these customers (as ``rows_after`` gives them), in id order."""
        if not customer_ids:
            return []
        db.execute(f"SELECT customer_id, merged_into, revision, document FROM {self.table}"
                   f" WHERE customer_id IN ({', '.join(['%s'] * len(customer_ids))})"
                   " ORDER BY customer_id", list(customer_ids))
        return db.fetchall()

    def changed_since(self, db: SqlCursor, after: tuple[int, str], upto: int,
                      limit: int) -> list[dict[str, Any]]:
        """Rows written after (revision, customer id) ``after`` by batches up to store
        position ``upto``, in that order: what a follower has not seen yet."""
        revision, customer = after
        db.execute(f"SELECT customer_id, merged_into, revision, document FROM {self.table}"
                   " WHERE revision <= %s AND (revision > %s OR (revision = %s AND"
                   " customer_id > %s)) ORDER BY revision, customer_id LIMIT %s",
                   [upto, revision, revision, customer, limit])
        return db.fetchall()

    def count(self, db: SqlCursor) -> int:
        """Customers, merged duplicates left out."""
        db.execute(f"SELECT COUNT(*) AS n FROM {self.table} WHERE merged_into IS NULL")
        return int(db.fetchone()["n"])  # type: ignore[index]

    def search(self, q: str | None = None, *, limit: int, cursor: str | None = None,
               missing: str | None = None, flagged: str | None = None,
               judge: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
               ) -> SearchPage:
        """Customers matching every filter given, merged duplicates left out, ordered by id.
        ``InvalidCursor`` for a cursor this service did not hand out.

        * ``q``: the start of an id (search works as you type), part of a name or e-mail,
          or 4 or more phone digits; ``%`` and ``_`` match themselves;
        * ``missing``: a record lacking this expected field (``any``: lacking one);
        * ``flagged``: an open anomaly flag with this reason code (``any``: any reason) on
          the customer or a duplicate merged into it;
        * ``judge``: called on each row (with ``order_days``, ``first_order_at`` and
          ``last_order_at``) in Python, for figures that change with the clock (churn
          risk as of now): None leaves the row out, a dict adds its fields to the row
          shown. Rows are read in slices of ids until the page is full.
        """
        clauses, params = ["merged_into IS NULL"], []
        if q is not None:
            typed = q.strip().lower()
            needle, digits = _like_escaped(typed), "".join(ch for ch in typed if ch.isdigit())
            # ESCAPE: a % or _ typed by the agent is that character, not a wildcard.
            like = "LIKE %s ESCAPE '\\'"
            text = f"(lower(customer_id) {like} OR lower(name) {like} OR email {like}"
            params += [f"{needle}%", f"%{needle}%", f"%{needle}%"]
            if len(digits) >= 4:
                text += f" OR phone_digits {like}"
                params.append(f"%{digits}%")
            clauses.append(text + ")")
        if missing is not None:
            clauses.append("missing <> '|'" if missing == "any" else "missing LIKE %s")
            params += [] if missing == "any" else [f"%|{missing}|%"]
        if flagged is not None:
            alerts = self.alert_book.alerts
            reason = "" if flagged == "any" else " AND a.details LIKE %s"
            clauses.append(
                f"EXISTS (SELECT 1 FROM {alerts} a WHERE a.kind = 'anomaly' AND a.status = 'open'"
                f"{reason} AND (a.customer_id = c.customer_id OR a.customer_id IN"
                f" (SELECT m.customer_id FROM {self.table} m WHERE m.merged_into = c.customer_id)))")
            params += [] if flagged == "any" else [f'%{json.dumps({"reason": flagged})[1:-1]}%']
        after = _decode_cursor(cursor) if cursor else None
        shown = ("customer_id", "name", "email", "status", "loyalty_score", "loyalty_tier")
        found: list[dict[str, Any]] = []
        with self.views.read() as db:
            while len(found) <= limit:
                slice_size = limit + 1 if judge is None else 500
                db.execute(
                    f"SELECT {', '.join(shown)}, order_days, first_order_at, last_order_at"
                    f" FROM {self.table} c WHERE {' AND '.join(clauses)}"
                    + (" AND customer_id > %s" if after is not None else "")
                    + " ORDER BY customer_id LIMIT %s",
                    [*params, *([after] if after is not None else []), slice_size],
                )
                rows = db.fetchall()
                for row in rows:
                    extra = {} if judge is None else judge(row)
                    if extra is not None:
                        found.append({**{k: row[k] for k in shown}, **extra})
                if len(rows) < slice_size:
                    break
                after = rows[-1]["customer_id"]
        more = len(found) > limit
        page = found[:limit]
        return SearchPage(page, _encode_cursor(page[-1]["customer_id"]) if more else None)

    def read(self, db: SqlCursor) -> list[dict[str, Any]]:
        db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {self.table} ORDER BY customer_id")
        return db.fetchall()

    def drop_tables(self, db: SqlCursor) -> None:
        db.execute(f"DROP TABLE IF EXISTS {self.table}")
        for sql in (s for table in self._sibling_aliases for s in Identities.drop_statements(table)):
            db.execute(sql)


def _current(fold: CustomerFold, members: list[str], now: datetime) -> Current:
    view = fold.view(now)
    return Current(view, view_document(view), members)


def _marker(duplicate: str, root: str) -> tuple[Any, ...]:
    """The row of a duplicate merged into ``root``: searches leave it out, reads follow it."""
    return _row(duplicate, root, None, "merged", {"customer_id": duplicate, "merged_into": root})


def _row(customer_id: str, merged_into: str | None, view: Customer360 | None, streams: str,
         document: dict[str, Any]) -> tuple[Any, ...]:
    profile = view.profile if view else {}
    return (
        customer_id,
        merged_into,
        profile.get("name"),
        (profile.get("email") or "").lower() or None,
        "".join(ch for ch in profile.get("phone") or "" if ch.isdigit()) or None,
        view.status if view else "merged",
        view.loyalty.score if view else None,
        view.loyalty.tier if view else None,
        to_micros(view.last_event_time) if view and view.last_event_time else None,
        streams,
        json.dumps(document, sort_keys=True),
        "".join(f"|{name}" for name in view.completeness["missing"]) + "|" if view else None,
        view.orders["order_days"] if view else None,
        to_micros(view.orders["first_order_time"]) if view and view.orders["count"] else None,
        to_micros(view.orders["last_order_time"]) if view and view.orders["count"] else None,
        view.owner["id"] if view and view.owner else None,
        view.owner.get("name") if view and view.owner else None,
    )


def _like_escaped(text: str) -> str:
    """``text`` matched literally by ``LIKE ... ESCAPE '\\'`` (PostgreSQL and SQLite alike)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(customer_id: str) -> str:
    return base64.urlsafe_b64encode(customer_id.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    """The customer id a cursor of ours holds (bad base64, not UTF-8, or control characters
    such as NUL, which PostgreSQL cannot even compare, are not ours)."""
    refused = InvalidCursor(f"cursor {printable(cursor, 100)!r} is not one this API returned")
    try:
        customer_id = base64.b64decode(cursor, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise refused from None
    if not customer_id or len(customer_id) > 64 or text_problem(customer_id):
        raise refused
    return customer_id
