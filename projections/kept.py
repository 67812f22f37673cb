"""What a read model keeps between batches, per customer, for a bounded number of them.

ADR 0007, rule 3: state a customer's next fact needs stays in the projector process.
Memory stays bounded by the cap, not by the number of customers: the least recently
kept customer goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class KeptPerCustomer(OrderedDict[str, V], Generic[V]):
    """Customer id -> what is kept, the least recently kept first."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def keep(self, customer: str, value: V) -> None:
        """Keep ``value`` as the most recent, dropping the oldest past the cap."""
        self[customer] = value
        self.move_to_end(customer)
        while len(self) > self.capacity:
            self.popitem(last=False)
