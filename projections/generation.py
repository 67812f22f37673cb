"""How one build of a read model is named: its tables and its tracking name.

The catalog (``projections/catalog.py``) decides which generation of a read model
is live and which is being built; each read model is handed its ``Generation``
and names its own tables through it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Generation:
    """One build of a read model. The first keeps the plain names; a later one suffixes its
    tables (``_g2``) and its tracking name (``@2``), so it can be built beside the live one."""

    read_model: str  # its tracking name in generation 1, e.g. "timeline", "report:cohorts"
    number: int = 1

    @property
    def tracking_name(self) -> str:
        return self.read_model if self.number == 1 else f"{self.read_model}@{self.number}"

    def table(self, name: str) -> str:
        return name if self.number == 1 else f"{name}_g{self.number}"
