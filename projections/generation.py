"""How one build of a read model, in one shard, is named: its tables and its tracking name.

The catalog (``projections/catalog.py``) decides which generation of a read model
is live and which is being built; each read model is handed its ``Generation``
and names its own tables through it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from projections.shards import EVERY_CUSTOMER, Shard


@dataclass(frozen=True)
class Generation:
    """One build of a read model. The first keeps the plain names; a later one suffixes its
    tables (``_g2``) and its tracking name (``@2``), so it can be built beside the live one.

    With projector shards (``projections/shards.py``) each shard tracks its own position
    (``timeline/s0of2``). Tables whose rows belong to one customer are shared by the
    shards (``table``); a shard's partial aggregates and its copy of the merge pointers
    are its own (``shard_table``).
    """

    read_model: str  # its tracking name in generation 1, e.g. "timeline", "report:cohorts"
    number: int = 1
    shard: Shard = EVERY_CUSTOMER

    @property
    def tracking_name(self) -> str:
        name = self.read_model if self.number == 1 else f"{self.read_model}@{self.number}"
        return name if self.shard.whole else f"{name}/{self.shard.label}"

    def table(self, name: str) -> str:
        return name if self.number == 1 else f"{name}_g{self.number}"

    def shard_table(self, name: str) -> str:
        shared = self.table(name)
        return shared if self.shard.whole else f"{shared}_{self.shard.label}"

    def siblings(self) -> list[Generation]:
        """This generation in every shard of the split, this one included."""
        return [replace(self, shard=shard) for shard in self.shard.siblings()]
