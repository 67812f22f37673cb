"""The customer 360 read model: one row per customer, searchable, plus the alerts it raises.

For each batch, every customer group it touches is folded again from the
group's streams in the event store (``domain/customer360.py``), as of the
group's latest event time. Folding whole streams makes each row a function of
the stored facts alone: re-applying a batch, a late event, a merge or an unmerge
all end in the same row, and rows never depend on the wall clock. Alerts have
stable ids and are inserted once. The API folds again as of *now* (scores decay
without new events); this table serves search, listings and reports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.customer360 import Alert, Customer360, Policies, fold_customer
from domain.facts import CustomerFact
from domain.history import CustomerHistory
from projections.identities import Identities
from projections.runner import Positioned
from projections.timeline import to_micros
from storage.views import SqlCursor, ViewDatabase


def to_json(value: Any) -> Any:
    """JSON-ready: datetimes as RFC 3339, decimals as strings, dataclasses as objects."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return to_json(asdict(value))
    return value


def view_document(view: Customer360) -> dict[str, Any]:
    document = to_json(view)
    del document["alerts"]
    return document


class CustomerGroupFacts:
    """Reads the facts of a customer and of everyone merged into it."""

    def __init__(self, history: CustomerHistory, identities: Identities) -> None:
        self.history = history
        self.identities = identities

    def of(self, db: SqlCursor, customer_id: str) -> tuple[str, list[str], list[CustomerFact]]:
        root = self.identities.root(db, customer_id)
        members = self.identities.group(db, root)
        facts = [fact for member in members for fact in self.history.customer_facts(member)]
        return root, members, facts


class Customer360Projection:
    name = "customer360"

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policies: Policies) -> None:
        self.identities = Identities(views)
        self.group_facts = CustomerGroupFacts(history, self.identities)
        self.policies = policies
        self.table = views.table("customer_360")
        self.alerts = views.table("alerts")

    def create_tables(self, views: ViewDatabase) -> None:
        views.create_tables(
            [
                self.identities.create_table_statement(),
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " customer_id TEXT PRIMARY KEY,"
                " merged_into TEXT,"
                " name TEXT, email TEXT, phone_digits TEXT,"
                " status TEXT NOT NULL,"
                " loyalty_score INTEGER, loyalty_tier TEXT,"
                " last_event_at BIGINT,"
                " document TEXT NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS {self.alerts} ("
                " alert_id TEXT PRIMARY KEY,"
                " kind TEXT NOT NULL,"
                " customer_id TEXT NOT NULL,"
                " raised_at BIGINT NOT NULL,"
                " raised_time TEXT NOT NULL,"
                " status TEXT NOT NULL,"
                " details TEXT NOT NULL)",
            ]
        )

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        touched: list[str] = []
        for item in batch:
            fact = item.fact
            touched.append(fact.customer_id)
            duplicate = fact.data.get("duplicate_customer_id")
            if fact.event_type == "crm.account.merged":
                touched.append(duplicate)
                self.identities.merge(cursor, fact.customer_id, duplicate)
            elif fact.event_type == "crm.account.unmerged":
                touched.append(duplicate)
                self.identities.unmerge(cursor, fact.customer_id, duplicate)
        refreshed: set[str] = set()
        for customer_id in dict.fromkeys(touched):
            root = self.identities.root(cursor, customer_id)
            if root not in refreshed:
                refreshed.add(root)
                self._refresh(cursor, root)

    def _refresh(self, db: SqlCursor, root: str) -> None:
        root, members, facts = self.group_facts.of(db, root)
        if not facts:
            return
        as_of = max(f.occurred_at for f in facts)
        view = fold_customer(root, facts, as_of, self.policies)
        document = view_document(view)
        document["merged_ids"] = members[1:]
        self._upsert(db, root, None, view, document)
        for duplicate in members[1:]:
            self._upsert(db, duplicate, root, None, {"customer_id": duplicate, "merged_into": root})
        self._raise(db, view.alerts)

    def _upsert(
        self,
        db: SqlCursor,
        customer_id: str,
        merged_into: str | None,
        view: Customer360 | None,
        document: dict[str, Any],
    ) -> None:
        profile = view.profile if view else {}
        db.execute(f"DELETE FROM {self.table} WHERE customer_id = %s", [customer_id])
        db.execute(
            f"INSERT INTO {self.table} (customer_id, merged_into, name, email, phone_digits,"
            " status, loyalty_score, loyalty_tier, last_event_at, document)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                customer_id,
                merged_into,
                profile.get("name"),
                (profile.get("email") or "").lower() or None,
                "".join(ch for ch in profile.get("phone") or "" if ch.isdigit()) or None,
                view.status if view else "merged",
                view.loyalty.score if view else None,
                view.loyalty.tier if view else None,
                to_micros(view.last_event_time) if view and view.last_event_time else None,
                json.dumps(document, sort_keys=True),
            ],
        )

    def _raise(self, db: SqlCursor, alerts: list[Alert]) -> None:
        db.executemany(
            f"INSERT INTO {self.alerts} (alert_id, kind, customer_id, raised_at, raised_time,"
            " status, details) VALUES (%s, %s, %s, %s, %s, 'open', %s)"
            " ON CONFLICT (alert_id) DO NOTHING",
            [
                (a.alert_id, a.kind, a.customer_id, to_micros(a.raised_at),
                 a.raised_at.isoformat(), json.dumps(to_json(a.details), sort_keys=True))
                for a in alerts
            ],
        )
