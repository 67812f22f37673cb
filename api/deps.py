"""What the routes need from the application state, and identity resolution."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from domain.customer360 import Policies
from domain.facts import CustomerFact
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.customer360 import Customer360Projection
from projections.replay import CUSTOMER_360, TIMELINE, RebuildCatalog
from projections.timeline import TimelineProjection
from storage.views import ViewDatabase


@dataclass(frozen=True)
class ReadSide:
    history: CustomerHistory
    views: ViewDatabase
    policies: Policies
    alert_book: AlertBook
    reports: RebuildCatalog
    page_size: int

    @classmethod
    def build(cls, history: CustomerHistory, views: ViewDatabase, policies: Policies,
              page_size: int) -> ReadSide:
        return cls(history, views, policies, AlertBook(views),
                   RebuildCatalog(history, views, policies), page_size)

    def timeline(self) -> TimelineProjection:
        """The live generation of the timeline (a rebuild may swap it)."""
        return self.reports.live(TIMELINE)  # type: ignore[return-value]

    def customer360(self) -> Customer360Projection:
        """The live generation of the 360 rows and merge identities (a rebuild may swap it)."""
        return self.reports.live(CUSTOMER_360)  # type: ignore[return-value]

    def group(self, customer_id: str) -> tuple[str, list[str]]:
        """The customer an id resolves to after merges, and every id in its group."""
        identities = self.customer360().identities
        with self.views.read() as db:
            return identities.groups(db, [customer_id])[customer_id]

    def facts(self, members: list[str]) -> list[CustomerFact]:
        by_member = self.history.customers_facts(members)
        return [fact for member in members for fact in by_member[member]]


def read_side(request: Request) -> ReadSide:
    return request.app.state.read_side
