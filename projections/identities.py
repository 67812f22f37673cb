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
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.merges import MAX_MERGE_DEPTH
from storage.views import SqlCursor, ViewDatabase


class Identities:
    """The merge pointers of one generation of the 360, in ``table``."""

    def __init__(self, views: ViewDatabase, table: str) -> None:
        self.table = views.table(table)

    @staticmethod
    def create_statement(table: str) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {table} ("
                " duplicate_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)")

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
