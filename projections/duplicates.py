"""Duplicate candidates: each customer's match keys (``predictions/duplicates.py``), and the
query that finds the customers who share them.

One row per customer, written only by the customer's shard, in one shared table
with an index per key: finding candidates is one lookup, not a scan. The keys are
personal data (a normalised e-mail is still an e-mail): they are derived, like the
360's profile, from the facts' unsealed fields, and an erasure deletes the row.
Each field remembers the event time of the fact that set it, so a late
``crm.account.updated`` does not undo a newer one. Account facts are few, so a
batch reads the rows of its customers once and writes each changed row once
(ADR 0007, rules 1-2); nothing is kept between batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from domain.facts import stored_topic
from domain.personal_data import ERASURE_REQUESTED
from predictions.duplicates import Match, MatchKeys, compare
from projections.generation import Generation
from projections.runner import Positioned
from storage.views import SqlCursor, ViewDatabase

PROFILE_TYPES = frozenset({"crm.account.opened", "crm.account.updated", ERASURE_REQUESTED})
_MATCHED_FIELDS = ("name", "email", "phone", "address", "country")
_KEYS = ("email", "phone", "name", "address")
#: At most this many customers share a key before it is taken for a placeholder (a shop's
#: own phone number, ``noreply@``): such a key pairs nobody.
MAX_SHARING = 25


class DuplicateCandidates:
    """The match keys of every customer, and who shares them."""

    def __init__(self, views: ViewDatabase, generation: Generation) -> None:
        self.name = generation.tracking_name
        self.generation = generation.number
        self.customers = generation.shard
        self.topics = tuple(sorted({stored_topic(t) for t in PROFILE_TYPES}))
        self._plain_name = generation.table("duplicate_keys")
        self.table = views.table(self._plain_name)

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} (customer_id TEXT PRIMARY KEY,"
            " email TEXT, phone TEXT, name TEXT, address TEXT, country TEXT,"
            " set_at TEXT NOT NULL)"])
        views.add_indexes(self._plain_name, {f"{self._plain_name}_{key}": key
                                             for key in ("email", "phone", "address")})

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        facts = [item.fact for item in batch if item.fact.event_type in PROFILE_TYPES]
        if not facts:
            return
        customers = sorted({fact.customer_id for fact in facts})
        profiles = self._profiles(cursor, customers)
        erased: set[str] = set()
        for fact in facts:
            if fact.event_type == ERASURE_REQUESTED:
                profiles.pop(fact.customer_id, None)
                erased.add(fact.customer_id)
                continue
            fields = fact.data if fact.event_type == "crm.account.opened" else fact.data["changes"]
            profile = profiles.setdefault(fact.customer_id, {"set_at": {}})
            at = fact.occurred_at.astimezone(UTC).isoformat()  # sorts as the times do
            for name in _MATCHED_FIELDS:
                if name in fields and profile["set_at"].get(name, "") <= at \
                        and not (fact.event_type == "crm.account.opened" and fields[name] is None):
                    profile[name] = fields[name]
                    profile["set_at"][name] = at
        cursor.executemany(f"DELETE FROM {self.table} WHERE customer_id = %s",
                           [[c] for c in sorted(erased - profiles.keys())])
        rows = [_row(customer, profile) for customer, profile in sorted(profiles.items())]
        cursor.executemany(
            f"INSERT INTO {self.table} (customer_id, email, phone, name, address, country, set_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (customer_id) DO UPDATE SET"
            " email = excluded.email, phone = excluded.phone, name = excluded.name,"
            " address = excluded.address, country = excluded.country, set_at = excluded.set_at",
            rows)

    def _profiles(self, db: SqlCursor, customers: list[str]) -> dict[str, dict[str, Any]]:
        """What the rows hold, as profiles: the keys stand in for the fields they came from
        (a key normalised again is itself)."""
        db.execute(f"SELECT * FROM {self.table} WHERE customer_id IN"
                   f" ({', '.join(['%s'] * len(customers))})", customers)
        return {row["customer_id"]: {**{k: row[k] for k in (*_KEYS, "country")},
                                     "set_at": json.loads(row["set_at"])}
                for row in db.fetchall()}

    # --- queries -----------------------------------------------------------------------

    def keys_of(self, db: SqlCursor, customer_ids: Sequence[str]) -> dict[str, MatchKeys]:
        db.execute(f"SELECT customer_id, email, phone, name, address FROM {self.table}"
                   f" WHERE customer_id IN ({', '.join(['%s'] * len(customer_ids))})",
                   list(customer_ids))
        return {row["customer_id"]: MatchKeys(row["email"], row["phone"], row["name"], row["address"])
                for row in db.fetchall()}

    def candidates(self, db: SqlCursor, members: Sequence[str],
                   root_of: Callable[[list[str]], dict[str, str]]) -> list[dict[str, Any]]:
        """The customers (by root, merged duplicates folded into their survivors) that share
        a key with any of ``members``, best first, each with its score and reasons."""
        ours = self.keys_of(db, members)
        wanted = {key: sorted({getattr(k, key) for k in ours.values() if getattr(k, key)})
                  for key in ("email", "phone", "address")}
        others: dict[str, MatchKeys] = {}
        for key, values in wanted.items():
            if not values:
                continue
            db.execute(f"SELECT customer_id, email, phone, name, address FROM {self.table}"
                       f" WHERE {key} IN ({', '.join(['%s'] * len(values))})", values)
            found = [row for row in db.fetchall() if row["customer_id"] not in members]
            shared: dict[str, int] = {}
            for row in found:
                shared[row[key]] = shared.get(row[key], 0) + 1
            others.update({row["customer_id"]: MatchKeys(row["email"], row["phone"], row["name"],
                                                         row["address"])
                           for row in found if shared[row[key]] <= MAX_SHARING})
        best: dict[str, tuple[Match, str]] = {}
        roots = root_of(sorted(others)) if others else {}
        ours_root = root_of(list(members[:1])).get(members[0]) if members else None
        for other, keys in others.items():
            root = roots.get(other, other)
            if root == ours_root:
                continue
            for mine in ours.values():
                match = compare(mine, keys)
                if match and (root not in best or match.score > best[root][0].score):
                    best[root] = (match, other)
        return [{"customer_id": root, "matched_id": other, "score": match.score,
                 "matched": list(match.matched), "reasons": list(match.reasons)}
                for root, (match, other) in sorted(best.items(),
                                                   key=lambda item: (-item[1][0].score, item[0]))]

    def read(self, db: SqlCursor) -> list[dict[str, Any]]:
        db.execute(f"SELECT customer_id, country FROM {self.table} ORDER BY customer_id")
        return db.fetchall()

    def drop_tables(self, db: SqlCursor) -> None:
        db.execute(f"DROP TABLE IF EXISTS {self.table}")


def _row(customer: str, profile: dict[str, Any]) -> tuple[Any, ...]:
    keys = MatchKeys.of(profile)
    return (customer, keys.email, keys.phone, keys.name, keys.address, profile.get("country"),
            json.dumps(profile["set_at"], sort_keys=True))
