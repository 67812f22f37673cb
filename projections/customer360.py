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
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.customer360 import Customer360, Policies, fold_customer
from domain.history import CustomerHistory
from projections.alerts import AlertBook
from projections.identities import Identities
from projections.runner import Positioned
from storage.views import SqlCursor, ViewDatabase, generation_name, generation_table, to_micros


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
    if hasattr(value, "__dataclass_fields__"):  # field by field: asdict would deep-copy first
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    return value


def view_document(view: Customer360) -> dict[str, Any]:
    document = to_json(view)
    del document["alerts"]
    return document


_COLUMNS = ("customer_id", "merged_into", "name", "email", "phone_digits", "status",
            "loyalty_score", "loyalty_tier", "last_event_at", "streams", "document")


class Customer360Projection:
    """The 360 rows of one generation (a rebuild writes a new one beside the live one)."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policies: Policies,
                 generation: int = 1) -> None:
        self.history = history
        self.generation = generation
        self.name = generation_name("customer360", generation)
        self.identities = Identities(views, generation)
        self.policies = policies
        self.table = views.table(generation_table("customer_360", generation))
        self.alert_book = AlertBook(views)

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
                " streams TEXT NOT NULL,"
                " document TEXT NOT NULL)",
                *self.alert_book.create_statements(),
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
        groups = dict(self.identities.groups(cursor, touched).values())
        self._refresh(cursor, groups)

    def _refresh(self, db: SqlCursor, groups: dict[str, list[str]]) -> None:
        """Fold again each group whose streams changed since its row was written.

        Rows remember the stream versions they were folded from, so a catch-up
        folds each customer about once, not once per batch that mentions it.
        """
        versions = self.history.stream_versions([m for members in groups.values() for m in members])
        wanted = {
            root: json.dumps([[m, versions[m]] for m in members])
            for root, members in groups.items()
        }
        marks = ", ".join(["%s"] * len(wanted))
        db.execute(
            f"SELECT customer_id, streams FROM {self.table} WHERE customer_id IN ({marks})",
            list(wanted),
        )
        written = {row["customer_id"]: row["streams"] for row in db.fetchall()}
        changed = [root for root, streams in wanted.items() if written.get(root) != streams]
        facts = self.history.customers_facts([m for root in changed for m in groups[root]])
        rows, alerts = [], []
        for root in changed:
            group_facts = [fact for member in groups[root] for fact in facts[member]]
            if not group_facts:
                continue
            view = fold_customer(root, group_facts, max(f.occurred_at for f in group_facts),
                                 self.policies)
            document = view_document(view)
            document["merged_ids"] = groups[root][1:]
            rows.append(_row(root, None, view, wanted[root], document))
            rows += [_row(duplicate, root, None, "merged", {"customer_id": duplicate,
                                                            "merged_into": root})
                     for duplicate in groups[root][1:]]
            alerts += view.alerts
        updates = ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS[1:])
        db.executemany(
            f"INSERT INTO {self.table} ({', '.join(_COLUMNS)})"
            f" VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
            f" ON CONFLICT (customer_id) DO UPDATE SET {updates}",
            rows,
        )
        self.alert_book.raise_alerts(db, alerts)


    def read(self, db: SqlCursor) -> list[dict[str, Any]]:
        db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {self.table} ORDER BY customer_id")
        return db.fetchall()

    def drop_tables(self, db: SqlCursor) -> None:
        for table in (self.table, self.identities.table):
            db.execute(f"DROP TABLE IF EXISTS {table}")


def _row(customer_id: str, merged_into: str | None, view: Customer360 | None, streams: str,
         document: dict[str, Any]) -> tuple[Any, ...]:
    profile = view.profile if view else {}
    return (
        customer_id,
        merged_into,
        profile.get("name"),
        (profile.get("email") or "").lower() or None,
        "".join(ch for ch in profile.get("phone") or "" if ch.isdigit()) or None,
        view.status if view else "merged",
        view.loyalty.score if view else None,
        view.loyalty.tier if view else None,
        to_micros(view.last_event_time) if view and view.last_event_time else None,
        streams,
        json.dumps(document, sort_keys=True),
    )
