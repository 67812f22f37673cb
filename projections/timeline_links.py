"""What a timeline row needs from the customer's other rows: a refund's currency, and the
links between complaints and the orders they are about.

A refund without a currency is in the order's: its summary says the order's currency,
looked up when the row is written in the same timeline (the order's placed row, same
customer, or a placed fact of the same batch); an order not known yet leaves the
summary without a currency. Links are made when a page is read, so a complaint recorded
after its order still links both ways: a complaint's entries (every step, not only the
opening) carry ``{"rel": "order", "order_id"}``, an order's entries carry
``{"rel": "complaint", "complaint_id"}`` for each complaint about it, oldest first, as
the page's ``as_of`` and ``known_at`` let them be seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from storage.views import Row, SqlCursor, ViewDatabase

if TYPE_CHECKING:
    from domain.facts import CustomerFact
    from projections.timeline import TimelineFilter

PLACED, REFUNDED, OPENED = "crm.order.placed", "crm.order.refunded", "crm.complaint.opened"
#: Refunds looked up per query (each is one OR'd condition).
_PER_QUERY = 200


def summary_data(event_type: str, data: Mapping[str, Any],
                 currencies: Mapping[tuple[str, str], str], customer_id: str) -> Mapping[str, Any]:
    """``data`` as its summary reads it: a refund without a currency gets its order's."""
    if event_type != REFUNDED or data.get("currency"):
        return data
    currency = currencies.get((customer_id, data.get("order_id") or ""))
    return {**data, "currency": currency} if currency else data


def refund_currencies(cursor: SqlCursor, table: str,
                      facts: Sequence[CustomerFact]) -> dict[tuple[str, str], str]:
    """(customer, order id) -> currency, for the orders of the refunds in ``facts`` that
    have none: from placed facts among ``facts``, else the customer's placed rows."""
    wanted = {(f.customer_id, f.data["order_id"]) for f in facts
              if f.event_type == REFUNDED and not f.data.get("currency") and f.data.get("order_id")}
    if not wanted:
        return {}
    found = {(f.customer_id, f.data.get("order_id")): f.data.get("currency") for f in facts
             if f.event_type == PLACED and (f.customer_id, f.data.get("order_id")) in wanted}
    missing = sorted(wanted - found.keys())
    for start in range(0, len(missing), _PER_QUERY):
        chunk = missing[start:start + _PER_QUERY]
        cursor.execute(
            f"SELECT customer_id, data FROM {table} WHERE event_type = %s AND ("
            + " OR ".join(["(customer_id = %s AND data LIKE %s ESCAPE '\\')"] * len(chunk)) + ")",
            [PLACED, *(v for customer, order in chunk for v in (customer, _names_order(order)))])
        found.update(placed_currencies(cursor.fetchall(), wanted))
    return {key: currency for key, currency in found.items() if currency}


def placed_currencies(rows: Iterable[Row], wanted: set[tuple[str, str]] | None = None,
                      customer_id: str | None = None) -> dict[tuple[str, str], str]:
    """(customer, order id) -> currency of the placed rows among ``rows`` (rows without a
    ``customer_id`` column are ``customer_id``'s)."""
    found = {}
    for row in rows:
        if row.get("event_type", PLACED) != PLACED:
            continue
        data = json.loads(row["data"])
        key = (row.get("customer_id") or customer_id or "", data.get("order_id") or "")
        if (wanted is None or key in wanted) and data.get("currency"):
            found[key] = data["currency"]
    return found


def link_entries(views: ViewDatabase, table: str, customer_ids: Sequence[str],
                 entries: list[dict[str, Any]], where: TimelineFilter) -> list[dict[str, Any]]:
    """Give each entry its ``links`` (empty for most): complaints to the order they are
    about, orders to the complaints about them, across the whole group's timeline."""
    for entry in entries:
        entry["links"] = []
    if not any(e["type"].startswith(("crm.order.", "crm.complaint.")) for e in entries):
        return entries
    order_of = _complaint_orders(views, table, customer_ids, where)
    about: dict[str, list[str]] = {}
    for complaint_id, order_id in order_of.items():
        about.setdefault(order_id, []).append(complaint_id)
    for entry in entries:
        data = entry["data"]
        if entry["type"].startswith("crm.complaint."):
            order_id = data.get("order_id") or order_of.get(data.get("complaint_id") or "")
            if order_id:
                entry["links"] = [{"rel": "order", "order_id": order_id}]
        elif entry["type"].startswith("crm.order."):
            entry["links"] = [{"rel": "complaint", "complaint_id": complaint_id}
                              for complaint_id in about.get(data.get("order_id") or "", [])]
    return entries


def _complaint_orders(views: ViewDatabase, table: str, customer_ids: Sequence[str],
                      where: TimelineFilter) -> dict[str, str]:
    """Complaint id -> the order it is about, of the group's complaints that name one,
    in order of opening."""
    clauses = [f"customer_id IN ({', '.join(['%s'] * len(customer_ids))})",
               "event_type = %s", "data LIKE %s"]
    params: list[Any] = [*customer_ids, OPENED, '%"order_id":"%']
    moment, moment_params = where.moment_clauses()
    clauses += moment
    params += moment_params
    with views.read() as db:
        db.execute(f"SELECT data FROM {table} WHERE {' AND '.join(clauses)}"
                   " ORDER BY occurred_at, position", params)
        rows = db.fetchall()
    found = {}
    for row in rows:
        data = json.loads(row["data"])
        if data.get("order_id") and data.get("complaint_id"):
            found[data["complaint_id"]] = data["order_id"]
    return found


def _names_order(order_id: str) -> str:
    """A LIKE pattern (``ESCAPE '\\'``) for row data naming ``order_id`` (rows hold compact
    JSON, so the pair is written exactly so)."""
    pair = '"order_id":' + json.dumps(order_id)
    return "%" + pair.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
