"""What can be exported, each as columns and a stream of row batches.

* **facts**: every stored fact in store order, its payload as JSON. Personal fields
  (those the wire schema marks personal) are left out of the payload unless asked for;
  an erased customer's are gone from the store itself, so they are in no export.
* **customers**: each customer's 360 as last folded, as of its last fact (``as_of``:
  loyalty and other figures with time windows are as of then), merged duplicates in
  their survivor's ``merged_ids``; the churn risk as of now by the latest model; name,
  e-mail and phone only when asked for.
* **segment NAME**: the members of a segment now, as customers.
* **report NAME**: a report's live rows (a range of months for reports by month).

A batch is read, written and dropped before the next is read: memory stays at one
batch whatever the size of the store.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.facts import CustomerFact
from domain.personal_data import pop_field
from exports.writers import Column
from history.customer_history import CustomerHistory
from predictions.churn import ChurnModel
from predictions.fitting import churn_risk, latest_churn_model
from predictions.model_book import ModelBook
from projections.catalog import CUSTOMER_360, ReadModelCatalog
from projections.customer360 import Customer360Projection
from projections.segments import SegmentBook
from schemas.registry import personal_fields
from storage.views import SqlCursor

Rows = list[dict[str, Any]]


@dataclass
class Source:
    """Columns, the row batches, and how many of ``unit`` the progress bar counts to:
    ``batches`` yields (rows, units done so far)."""

    columns: list[Column]
    batches: Iterator[tuple[Rows, int]]
    total: int
    unit: str


FACT_COLUMNS: list[Column] = [
    ("position", "int"), ("event_id", "string"), ("event_type", "string"), ("source", "string"),
    ("customer_id", "string"), ("occurred_at", "timestamp"), ("recorded_at", "timestamp"),
    ("data", "json"),
]


def facts(history: CustomerHistory, *, personal: bool = False, since: datetime | None = None,
          until: datetime | None = None, batch_size: int = 5_000) -> Source:
    """Every fact (occurred ``since`` <= time < ``until``), in store order."""
    total = history.recorder.max_notification_id() or 0

    def batches() -> Iterator[tuple[Rows, int]]:
        position = 0
        while stored := history.recorder.select_notifications(
                start=position, limit=batch_size, inclusive_of_start=False):
            position = stored[-1].id
            rows = [_fact_row(n.id, fact, personal)
                    for n, fact in zip(stored, history.facts_of(stored, personal_data=personal),
                                       strict=True)
                    if (since is None or fact.occurred_at >= since)
                    and (until is None or fact.occurred_at < until)]
            yield rows, position

    return Source(FACT_COLUMNS, batches(), total, "event")


def _fact_row(position: int, fact: CustomerFact, personal: bool) -> dict[str, Any]:
    data = fact.data
    if not personal:
        data = without_personal(fact.event_type, data)
    return {"position": position, "event_id": fact.event_id, "event_type": fact.event_type,
            "source": fact.source, "customer_id": fact.customer_id,
            "occurred_at": fact.occurred_at.astimezone(UTC),
            "recorded_at": fact.timestamp.astimezone(UTC), "data": data}


def without_personal(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its personal fields (not even as null: absent is what they are)."""
    paths = personal_fields(event_type)
    if not paths:
        return data
    kept = copy.deepcopy(data)
    for path in paths:
        try:
            pop_field(kept, path)
        except (KeyError, TypeError):
            pass  # not in this payload
    return kept


CUSTOMER_COLUMNS: list[Column] = [
    ("customer_id", "string"), ("status", "string"), ("acquisition_channel", "string"),
    ("country", "string"), ("segment", "string"), ("language", "string"),
    ("owner_id", "string"), ("consents", "json"), ("orders", "int"), ("order_days", "int"),
    ("first_order_at", "timestamp"), ("last_order_at", "timestamp"),
    ("lifetime_value", "json"), ("complaints", "int"), ("complaints_open", "int"),
    ("sla_breaches", "int"), ("contacts", "int"), ("nps_average", "float"),
    ("loyalty_score", "int"), ("loyalty_tier", "string"), ("churn_risk", "float"),
    ("completeness", "float"), ("merged_ids", "json"), ("last_event_at", "timestamp"),
    ("as_of", "timestamp"),
]
PERSONAL_CUSTOMER_COLUMNS: list[Column] = [("name", "string"), ("email", "string"),
                                           ("phone", "string")]


def customers(catalog: ReadModelCatalog, models: ModelBook, *, personal: bool = False,
              segment: str | None = None, batch_size: int = 2_000) -> Source:
    """Every customer of the live 360 (or the members of ``segment``), in id order."""
    people: Customer360Projection = catalog.live(CUSTOMER_360)  # type: ignore[assignment]
    with catalog.views.read() as db:
        total = people.count(db) if segment is None else SegmentBook(catalog.views).size(db, segment)
    now = datetime.now(UTC)
    model = latest_churn_model(models, now)

    def page(db: SqlCursor, after: str | None) -> list[dict[str, Any]]:
        if segment is None:
            return people.rows_after(db, after, batch_size, merged=False)
        members = SegmentBook(catalog.views).page(db, segment, as_of=None, after=after,
                                                  limit=batch_size)
        return people.rows_of(db, [m["customer_id"] for m in members])

    def batches() -> Iterator[tuple[Rows, int]]:
        after, done = None, 0
        while True:
            with catalog.views.read() as db:
                documents = [json.loads(row["document"]) for row in page(db, after)]
            if not documents:
                return
            after, done = documents[-1]["customer_id"], done + len(documents)
            yield [_customer_row(d, personal, model, now) for d in documents], done

    columns = CUSTOMER_COLUMNS[:1] + (PERSONAL_CUSTOMER_COLUMNS if personal else []) + CUSTOMER_COLUMNS[1:]
    return Source(columns, batches(), total, "customer")


def _customer_row(document: dict[str, Any], personal: bool, model: ChurnModel | None,
                  now: datetime) -> dict[str, Any]:
    profile, orders = document["profile"], document["orders"]
    complaints, loyalty = document["complaints"], document["loyalty"]
    first, last = _time(orders["first_order_time"]), _time(orders["last_order_time"])
    risk = churn_risk(model, document["customer_id"], orders, now)
    row = {
        "customer_id": document["customer_id"], "status": document["status"],
        "acquisition_channel": document["acquisition_channel"], "country": profile.get("country"),
        "segment": profile.get("segment"), "language": profile.get("language"),
        "owner_id": (document["owner"] or {}).get("owner_id"), "consents": document["consents"],
        "orders": orders["count"], "order_days": orders["order_days"],
        "first_order_at": first, "last_order_at": last,
        "lifetime_value": orders["lifetime_value"], "complaints": complaints["total"],
        "complaints_open": complaints["open"], "sla_breaches": complaints["sla_breaches"],
        "contacts": document["contacts"]["total"],
        "nps_average": document["satisfaction"]["nps_average"],
        "loyalty_score": loyalty["score"], "loyalty_tier": loyalty["tier"], "churn_risk": risk,
        "completeness": document["completeness"].get("share"),
        "merged_ids": document.get("merged_ids", []),
        "last_event_at": _time(document["last_event_time"]), "as_of": _time(document["as_of"]),
    }
    if personal:
        row.update({name: profile.get(name) for name in ("name", "email", "phone")})
    return row


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def report(catalog: ReadModelCatalog, name: str, *, since: str | None = None,
           until: str | None = None) -> Source:
    """A report's live rows (a report is a few aggregates: one batch); each column typed by
    the values it holds, amounts (decimal strings) as numbers."""
    columns = catalog.report(name).columns
    rows = catalog.read(name, since=since, until=until)
    typed = [(column, _kind([row.get(column) for row in rows])) for column in columns]
    return Source(typed, iter([(rows, len(rows))]), len(rows), "row")


_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


def _kind(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    if any(isinstance(v, dict | list) for v in present):
        return "json"
    if present and all(isinstance(v, str) and _DECIMAL.fullmatch(v) for v in present):
        return "float"
    return "string"
