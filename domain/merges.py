"""Merge groups and their limits, checked when a merge arrives.

``crm.account.merged`` points the duplicate at the survivor (the subject);
``crm.account.unmerged`` removes that pointer. Pointers form trees: a
customer's *root* is the end of its chain, its *group* every id whose chain
ends there. Every view reads a whole group, hop by hop, so groups have limits:

* ``MAX_MERGE_DEPTH``: no id is more than this many merges away from its root;
* ``MAX_GROUP_SIZE``: no group holds more ids than this.

A merge that would break either is refused when it arrives (dead-lettered,
naming the limit), so no read model ever meets a group it cannot read. A merge
of two ids already in one group changes nothing (it would make a loop), as the
read models see it too (``projections/identities.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_MERGE_DEPTH = 100
MAX_GROUP_SIZE = 1000


class MergeForest:
    """The merge pointers of some groups (``duplicate -> survivor``), to check and apply
    merges in arrival order. Load it with every pointer of the groups concerned."""

    def __init__(self, links: Mapping[str, str]) -> None:
        self.links = dict(links)
        self.changed: dict[str, str | None] = {}  # duplicate -> new survivor, None: unlinked

    def root(self, customer_id: str) -> str:
        current, hops = customer_id, 0
        while current in self.links and hops <= MAX_MERGE_DEPTH + 1:
            current, hops = self.links[current], hops + 1
        return current

    def _depth(self, customer_id: str) -> int:
        """Merges between ``customer_id`` and its root."""
        depth, current = 0, customer_id
        while current in self.links and depth <= MAX_MERGE_DEPTH + 1:
            current, depth = self.links[current], depth + 1
        return depth

    def _subtree(self, customer_id: str) -> tuple[int, int]:
        """(ids pointing at ``customer_id`` through any chain, itself included; the longest
        such chain)."""
        children: dict[str, list[str]] = {}
        for duplicate, survivor in self.links.items():
            children.setdefault(survivor, []).append(duplicate)
        size, height, level = 0, -1, [customer_id]
        while level and height <= MAX_MERGE_DEPTH:
            size, height = size + len(level), height + 1
            level = [child for member in level for child in children.get(member, ())]
        return size, height

    def refusal(self, survivor: str, duplicate: str) -> str | None:
        """Why merging ``duplicate`` into ``survivor`` breaks a limit (None: it does not)."""
        if self.root(survivor) == self.root(duplicate):
            return None  # a no-op, not a breach
        moved, height = self._subtree(duplicate)
        depth = self._depth(survivor) + 1 + height
        if depth > MAX_MERGE_DEPTH:
            return (f"merge refused: merging {duplicate!r} into {survivor!r} would make a chain "
                    f"of {depth} merges in one group; at most {MAX_MERGE_DEPTH} are allowed")
        size = self._subtree(self.root(survivor))[0] + moved
        if size > MAX_GROUP_SIZE:
            return (f"merge refused: merging {duplicate!r} into {survivor!r} would make a group "
                    f"of {size} customer ids; at most {MAX_GROUP_SIZE} are allowed")
        return None

    def merge(self, survivor: str, duplicate: str) -> None:
        if self.root(survivor) != self.root(duplicate):
            self.links[duplicate] = self.changed[duplicate] = survivor

    def unmerge(self, survivor: str, duplicate: str) -> None:
        if self.links.get(duplicate) == survivor:
            del self.links[duplicate]
            self.changed[duplicate] = None
