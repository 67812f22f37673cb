"""Rebuilding a read model from the first stored event, beside the live one, then swapping.

``replay`` folds the whole history into a new generation's fresh tables
(``projections/catalog.py`` names them), resuming where an interrupted build
stopped (its tracking record says where), and swaps it in with one transaction.
The live loop notices the change and follows on with the new generation from
its position (``catalog.LiveGenerations``). ``diff`` shows what a build waiting
to be swapped in would change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from projections.catalog import CUSTOMER_360, TIMELINE, ReadModelCatalog
from projections.reports.base import Doc
from projections.runner import Projector


@dataclass
class Progress:
    """What a running or finished rebuild has done, for the progress bar and the API."""

    name: str
    generation: int
    total: int = 0
    done: int = 0
    state: str = "building"  # building, caught_up, swapped, failed
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def replay(catalog: ReadModelCatalog, names: str | Sequence[str], *, swap: bool = True,
           batch_size: int = 2000,
           on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Build each named read model into a fresh generation from the first event, reading
    the store once for all of them; swap each in when caught up."""
    names = [names] if isinstance(names, str) else list(names)
    generations = {name: catalog.start_build(name) for name in names}
    projector = Projector(catalog.history, catalog.views,
                          [shard for name, g in generations.items()
                           for shard in catalog.every_shard(name, g)],
                          batch_size=batch_size)
    progress = Progress(", ".join(names), max(generations.values()),
                        total=catalog.history.recorder.max_notification_id() or 0,
                        done=projector.position)
    while projector.step():
        progress.done = projector.position
        progress.total = max(progress.total, progress.done)
        if on_progress:
            on_progress(progress)
    projector.raise_failures()  # a generation that failed a batch is never swapped in
    progress.done = progress.total = max(progress.total, projector.position)
    progress.state = "caught_up"
    if swap:
        for name, generation in generations.items():
            catalog.swap(name, generation)
        progress.state = "swapped"
    if on_progress:
        on_progress(progress)
    return progress


@dataclass(frozen=True)
class Diff:
    added: list[Doc]
    removed: list[Doc]
    changed: list[tuple[Doc, Doc]]


def diff(catalog: ReadModelCatalog, name: str) -> Diff:
    """What the building generation changes against the live one, by row."""
    live, building = catalog.generations(name)
    if building is None:
        raise ValueError(f"no rebuild of {name!r} waits to be swapped in; run it with --diff first")
    if name == CUSTOMER_360:
        key_columns = ["customer_id"]
    elif name == TIMELINE:
        key_columns = ["customer_id", "occurred_at", "event_id"]
    else:
        key_columns = [c for c in catalog.reports[name].columns
                       if c in ("month", "channel", "category", "priority", "cohort",
                                "kind", "antecedent", "consequent", "agent_id")]

    def keyed(rows: list[Doc]) -> dict[tuple, Doc]:
        return {tuple(row.get(c) for c in key_columns): row for row in rows}

    old, new = keyed(catalog.read(name, live)), keyed(catalog.read(name, building))
    return Diff(
        added=[new[k] for k in sorted(set(new) - set(old))],
        removed=[old[k] for k in sorted(set(old) - set(new))],
        changed=[(old[k], new[k]) for k in sorted(set(old) & set(new)) if old[k] != new[k]],
    )


def tier_changes(changes: Diff) -> list[tuple[str, str | None, str | None]]:
    """For the customer 360: (customer, tier before, tier after) where the tier differs."""
    return [(old["customer_id"], old["loyalty_tier"], new["loyalty_tier"])
            for old, new in changes.changed if old["loyalty_tier"] != new["loyalty_tier"]]
