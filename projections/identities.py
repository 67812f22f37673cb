"""Who is who after merges: duplicate customer ids and the survivor they belong to.

``crm.account.merged`` (subject = survivor) points the duplicate at the survivor;
``crm.account.unmerged`` removes that pointer, so both are themselves again.
Merges chain (a survivor may itself be merged later): a customer's *root* is the
end of its chain, and the root's *group* is every id whose chain ends there.
Facts stay filed under the id they were sent for; views read whole groups, so
an unmerge needs no rewriting of history. The table is written by the customer
360 projection, in its transactions; with projector shards each shard keeps a copy
of its own (``projections/shards.py``). Groups stay within the limits of
``domain/merges.py``, checked when a merge arrives; a chain past them (stored
before the check existed) raises, and the fact that made it is set aside.

Beside the pointers, every merge and unmerge is logged with when it happened and
when it was recorded, so a group can be read as it stood at any moment
(``group_as_of``): what a colleague saw then, not today's group.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.facts import CustomerFact
from domain.merges import MAX_MERGE_DEPTH, MergeForest
from storage.views import SqlCursor, ViewDatabase, to_micros


class Identities:
    """The merge pointers of one generation of the 360, in ``table``."""

    def __init__(self, views: ViewDatabase, table: str) -> None:
        self.table = views.table(table)
        self.log = log_table(self.table)

    @staticmethod
    def create_statements(table: str) -> list[str]:
        """The pointers and their log; for a generation built before the log existed, its
        pointers are logged as known from the start (``crm-timeline replay customer360``
        dates them exactly)."""
        log = log_table(table)
        return [
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " duplicate_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {log} ("
            " position BIGINT NOT NULL, duplicate_id TEXT NOT NULL, survivor_id TEXT NOT NULL,"
            " merged INTEGER NOT NULL, occurred_at BIGINT NOT NULL, recorded_at BIGINT NOT NULL,"
            " PRIMARY KEY (position, duplicate_id))",
            f"INSERT INTO {log} (position, duplicate_id, survivor_id, merged, occurred_at,"
            f" recorded_at) SELECT 0, duplicate_id, survivor_id, 1, 0, 0 FROM {table}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {log})",
        ]

    @staticmethod
    def drop_statements(table: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {t}" for t in (table, log_table(table))]

    def groups(self, db: SqlCursor, customer_ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        """(root, group) of each id; one query when, as usual, none of them was ever merged."""
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        db.execute(
            f"SELECT duplicate_id, survivor_id FROM {self.table}"
            f" WHERE duplicate_id IN ({marks}) OR survivor_id IN ({marks})",
            [*ids, *ids],
        )
        merged = {id_ for row in db.fetchall() for id_ in row.values()}
        result = {}
        for customer_id in ids:
            if customer_id in merged:
                root = self.root(db, customer_id)
                result[customer_id] = (root, self.group(db, root))
            else:
                result[customer_id] = (customer_id, [customer_id])
        return result

    def root(self, db: SqlCursor, customer_id: str) -> str:
        """The end of ``customer_id``'s chain, in one query."""
        db.execute(
            f"WITH RECURSIVE up(id, hops) AS (SELECT CAST(%s AS TEXT), 0 UNION ALL"
            f" SELECT a.survivor_id, up.hops + 1 FROM {self.table} a"
            f" JOIN up ON a.duplicate_id = up.id WHERE up.hops <= %s)"
            " SELECT id, hops FROM up ORDER BY hops DESC LIMIT 1",
            [customer_id, MAX_MERGE_DEPTH],
        )
        row = db.fetchone()
        assert row is not None
        if row["hops"] > MAX_MERGE_DEPTH:
            raise RuntimeError(f"the merge chain of {customer_id!r} is longer than "
                               f"{MAX_MERGE_DEPTH} merges (domain.merges.MAX_MERGE_DEPTH)")
        return row["id"]

    def group(self, db: SqlCursor, root: str) -> list[str]:
        """The root first, then every id merged into it, directly or through others."""
        members, frontier = [root], [root]
        for _ in range(MAX_MERGE_DEPTH + 1):
            if not frontier:
                break
            marks = ", ".join(["%s"] * len(frontier))
            db.execute(
                f"SELECT duplicate_id FROM {self.table} WHERE survivor_id IN ({marks})"
                " ORDER BY duplicate_id",
                frontier,
            )
            frontier = [row["duplicate_id"] for row in db.fetchall()]
            members += frontier
        return members

    def group_as_of(self, db: SqlCursor, customer_id: str, as_of: datetime,
                    known_at: datetime) -> tuple[str, list[str]]:
        """(root, group) of ``customer_id`` as the merges that had happened by ``as_of`` and
        were recorded by ``known_at`` made it, replayed in store order by the rules the
        projection applies (a merge that would loop changes nothing). The whole log is
        read: merges are few beside the facts, and this serves only reads of the past."""
        db.execute(f"SELECT duplicate_id, survivor_id, merged FROM {self.log}"
                   " WHERE occurred_at <= %s AND recorded_at <= %s ORDER BY position",
                   [to_micros(as_of), to_micros(known_at)])
        forest = MergeForest({})
        for row in db.fetchall():
            if row["merged"]:
                forest.merge(row["survivor_id"], row["duplicate_id"])
            else:
                forest.unmerge(row["survivor_id"], row["duplicate_id"])
        root = forest.root(customer_id)
        members, frontier = [root], [root]
        while frontier and len(members) <= len(forest.links):
            frontier = sorted(d for d, s in forest.links.items() if s in frontier)
            members += frontier
        return root, members

    def record(self, db: SqlCursor, position: int, fact: CustomerFact) -> None:
        """Log a merge or unmerge fact (whether or not it changed a pointer)."""
        db.execute(
            f"INSERT INTO {self.log} (position, duplicate_id, survivor_id, merged, occurred_at,"
            " recorded_at) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (position, duplicate_id) DO NOTHING",
            [position, fact.data["duplicate_customer_id"], fact.customer_id,
             int(fact.event_type == "crm.account.merged"), to_micros(fact.occurred_at),
             to_micros(fact.timestamp)])

    def merge(self, db: SqlCursor, survivor: str, duplicate: str) -> bool:
        """Point ``duplicate`` at ``survivor``; refuse (False) a merge that would loop."""
        if self.root(db, survivor) == self.root(db, duplicate):
            return False
        db.execute(f"DELETE FROM {self.table} WHERE duplicate_id = %s", [duplicate])
        db.execute(
            f"INSERT INTO {self.table} (duplicate_id, survivor_id) VALUES (%s, %s)",
            [duplicate, survivor],
        )
        return True

    def unmerge(self, db: SqlCursor, survivor: str, duplicate: str) -> None:
        db.execute(
            f"DELETE FROM {self.table} WHERE duplicate_id = %s AND survivor_id = %s",
            [duplicate, survivor],
        )


def log_table(table: str) -> str:
    """The merge log beside the pointer table ``table`` (as SQL, quoted, maybe qualified)."""
    return f'{table[:-1]}_log"'
