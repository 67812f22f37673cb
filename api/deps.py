"""What the routes need from the application state, and identity resolution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from domain.customer360 import Policies
from domain.facts import CustomerFact
from history.customer_history import CustomerHistory
from predictions.model_book import ModelBook
from projections.alerts import AlertBook
from projections.catalog import (
    COMPLAINT_SLA,
    CUSTOMER_360,
    DUPLICATES,
    FOLLOW_UPS,
    TIMELINE,
    ReadModelCatalog,
)
from projections.complaint_sla import ComplaintSlaProjection
from projections.customer360 import Customer360Projection
from projections.duplicates import DuplicateCandidates
from projections.follow_ups import FollowUpProjection, task_json
from projections.timeline import TimelineProjection
from storage.views import ViewDatabase


@dataclass(frozen=True)
class ReadSide:
    """The read models the routes read, through their own queries."""

    history: CustomerHistory
    catalog: ReadModelCatalog
    page_size: int
    models: ModelBook

    @property
    def views(self) -> ViewDatabase:
        return self.catalog.views

    @property
    def policies(self) -> Policies:
        """The live 360 generation's: agents see a new formula only once a rebuild made
        with it is swapped in (``projections/generation_policies.py``)."""
        return self.customer360().policies

    @property
    def alert_book(self) -> AlertBook:
        return self.catalog.alert_book

    def timeline(self) -> TimelineProjection:
        """The live generation of the timeline (a rebuild may swap it)."""
        return self.catalog.live(TIMELINE)  # type: ignore[return-value]

    def customer360(self) -> Customer360Projection:
        """The live generation of the 360 rows and merge identities (a rebuild may swap it)."""
        return self.catalog.live(CUSTOMER_360)  # type: ignore[return-value]

    def duplicates(self, members: list[str]) -> list[dict[str, object]]:
        """The customers probably the same person as the group of ``members``, best first,
        with who they are (as search lists them)."""
        model: DuplicateCandidates = self.catalog.live(DUPLICATES)  # type: ignore[assignment]
        people = self.customer360()
        with self.views.read() as db:
            found = model.candidates(db, members, lambda ids: people.roots(db, ids))
            who = people.summaries(db, [c["customer_id"] for c in found])
        return [{**who.get(c["customer_id"], {"customer_id": c["customer_id"]}), **c}
                for c in found]

    def group(self, customer_id: str, as_of: datetime | None = None,
              known_at: datetime | None = None) -> tuple[str, list[str]]:
        """The customer an id resolves to after merges, and every id in its group (now, or
        as the merges that had happened by ``as_of`` and were recorded by ``known_at``
        made it)."""
        return self.customer360().group(customer_id, as_of, known_at)

    def anomalies(self, members: list[str], limit: int = 20) -> list[dict[str, object]]:
        """The ``limit`` newest anomaly flags of a customer's group, with their figures."""
        with self.views.read() as db:
            rows = self.alert_book.listing(db, kind="anomaly", customer_id=members, limit=limit)
        return [{"alert_id": row["alert_id"], "customer_id": row["customer_id"],
                 "raised_at": row["raised_time"], "status": row["status"], **row["details"]}
                for row in rows]

    def follow_ups(self, members: list[str], as_of: datetime) -> list[dict[str, object]]:
        """The follow-up tasks of a customer's group opened by ``as_of``, newest first, each
        with its state then (open, overdue, closed)."""
        with self.views.read() as db:
            tasks = self.follow_up_book().tasks(db, members, as_of)
        return [task_json(task, as_of) for task in tasks]

    def owners(self, customer_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each customer's name and current owner, from the live 360 rows (``owners``)."""
        people = self.customer360()
        with self.views.read() as db:
            return people.owners(db, customer_ids)

    def follow_up_book(self) -> FollowUpProjection:
        return self.catalog.live(FOLLOW_UPS)  # type: ignore[return-value]

    def complaint_clocks(self) -> ComplaintSlaProjection:
        return self.catalog.live(COMPLAINT_SLA)  # type: ignore[return-value]

    def facts(self, members: list[str]) -> list[CustomerFact]:
        by_member = self.history.customers_facts(members)
        return [fact for member in members for fact in by_member[member]]


async def read_side(request: Request) -> ReadSide:
    """Async: a sync dependency would cost every request a thread hop for one lookup."""
    return request.app.state.read_side
