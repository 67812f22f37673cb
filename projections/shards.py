"""Which customers a projector process keeps, when the read models are split across processes.

With ``CRM_PROJECTION_SHARDS=N``, N projector processes (``CRM_PROJECTION_SHARD=0..N-1``)
follow the same history; each folds the customers whose stream id falls in its shard.
The stream id is a uuid5 of the customer id (``domain.facts.customer_stream_id``), so
the hash is the same in every process and release, and a notification's shard is
known from its originator id before it is decoded.

A merge group is kept by the shard of its root (the survivor at the end of the
chain), so a group never spans processes; the marker row of a merged duplicate is
kept by the duplicate's own shard. Every row has one writer, which applies the
history in store order: N shards end in the same views as one projector.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.facts import customer_stream_id


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``; ``Shard()`` is every customer (one projector)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}: the shard must lie "
                             f"between 0 and {self.count - 1}")

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns_stream(self, stream_id: UUID) -> bool:
        return self.count == 1 or stream_id.int % self.count == self.index

    def owns(self, customer_id: str) -> bool:
        return self.count == 1 or self.owns_stream(customer_stream_id(customer_id))

    @property
    def label(self) -> str:
        """How names of this shard's tables and tracking records end ("" for the whole)."""
        return "" if self.whole else f"s{self.index}of{self.count}"

    def siblings(self) -> list[Shard]:
        """Every shard of this split, this one included."""
        return [Shard(k, self.count) for k in range(self.count)]


EVERY_CUSTOMER = Shard()
