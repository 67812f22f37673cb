"""The customer 360 view, its loyalty score and customer search.

A duplicate id merged into another customer resolves to the survivor: the
answer is the survivor's view, with ``customer_id`` the survivor's id and
``resolved_from`` the id that was asked for (an alias, not a redirect, since an
unmerge can make the duplicate its own customer again).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from api.access import requires
from api.deps import ReadSide, read_side
from api.models import Customer360, CustomerSearch, Loyalty
from api.params import CustomerId, QueryTime
from domain.anomalies import REASONS
from domain.customer360 import EXPECTED_FIELDS, CustomerFold, by_event_time
from domain.facts import CustomerFact
from predictions.churn import history_of_days
from predictions.fitting import churn_of, latest_churn_model
from projections.customer360 import Current, to_json, view_document
from projections.paging import InvalidCursor
from projections.set_aside import feed_each
from schemas.text import printable
from storage.codec import from_micros
from storage.errors import explain

log = logging.getLogger(__name__)

router = APIRouter(tags=["customers"], dependencies=[Depends(requires("agent"))])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No customer by that id, as of then"}}

AsOf = Annotated[
    QueryTime | None,
    Query(description="Read the view as it was at this moment, by when things happened "
          "(RFC 3339 with offset, between 1900 and 9000); default now."),
]
KnownAt = Annotated[
    QueryTime | None,
    Query(description="Read the view as it was known at this moment: only facts the service "
          "had recorded by then, with merges as they stood. With `as_of` set to the same "
          "moment: exactly what a colleague saw then. Default now."),
]


def _fold(side: ReadSide, customer_id: str, as_of: datetime, known_at: datetime | None
          ) -> tuple[Any, list[str], list[CustomerFact]]:
    """The 360 of the customer's group as of ``as_of``, as known at ``known_at`` (None:
    as known now), its members and their facts."""
    root, members = side.group(customer_id, as_of, known_at)
    facts = [f for f in side.facts(members) if f.occurred_at <= as_of
             and (known_at is None or f.timestamp <= known_at)]
    if not facts:
        known = f", as known at {known_at.isoformat()}" if known_at else ""
        raise HTTPException(404, f"no customer {customer_id!r} known as of "
                                 f"{as_of.isoformat()}{known}")
    return group_view(side, root, facts, as_of), members, facts


def group_view(side: ReadSide, root: str, facts: list[CustomerFact], as_of: datetime) -> Any:
    """The 360 of ``root`` from ``facts`` (its group's) as of ``as_of``; a fact the rules
    cannot take is left out (the projection sets it aside and raises an alert), not
    answered with a 500."""
    fold, unfolded = CustomerFold(root, side.policies), []
    feed_each(by_event_time(f for f in facts if f.occurred_at <= as_of), fold.add, unfolded)
    for fact, error in unfolded:
        log.warning("the 360 of %s leaves out fact %s: %s", printable(root),
                    printable(fact.event_id), explain(error))
    return fold.view(as_of)


def _view(side: ReadSide, customer_id: str, as_of: datetime | None,
          known_at: datetime | None = None) -> Current:
    """The 360 of the customer's group as of ``as_of`` (None: now), as known at
    ``known_at`` (None: now). Now comes from the fold the read side keeps; the past is
    folded from the facts that happened, and were recorded, by then."""
    if as_of is None and known_at is None:
        now = datetime.now(UTC)
        current = side.customer360().current(customer_id, now)
        if current is not None:
            return current
        as_of = now
    view, members, _ = _fold(side, customer_id, as_of or datetime.now(UTC), known_at)
    return Current(view, view_document(view), members)


@router.get("/customers/{customer_id:path}/loyalty", operation_id="getCustomerLoyalty",
            response_model=Loyalty, responses=_NOT_FOUND)
def customer_loyalty(customer_id: CustomerId, as_of: AsOf = None, known_at: KnownAt = None,
                     side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """The loyalty score as of a moment, with R, F, M, E, base, penalty and tier."""
    view = _view(side, customer_id, as_of, known_at).view
    return {"customer_id": view.customer_id, **to_json(view.loyalty)}


# Declared after every longer /customers/{customer_id:path}/... route (and app.py includes
# the timeline's router first): a path parameter takes slashes, and the first match wins.
@router.get("/customers/{customer_id:path}", operation_id="getCustomer360",
            response_model=Customer360, responses=_NOT_FOUND,
            response_model_exclude_unset=True)  # resolved_from only when resolved
def customer_360(customer_id: CustomerId, as_of: AsOf = None, known_at: KnownAt = None,
                 side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Profile, status, owner, consents, purchase pattern, complaints, contacts,
    satisfaction, loyalty with its components, flags, churn risk with its reasons, and the
    anomaly flags raised by then; with ``known_at``, only what was known then."""
    current = _view(side, customer_id, as_of, known_at)
    view, moment = current.view, current.view.as_of
    document = {**current.document, "merged_ids": current.members[1:],
                "known_at": known_at.isoformat() if known_at else None}
    raised_by = min(moment, known_at) if known_at else moment
    orders = view.orders
    purchases = history_of_days(view.customer_id, orders["order_days"], orders["first_order_time"],
                                orders["last_order_time"], moment) if orders["count"] else None
    document["churn"] = churn_of(side.models, purchases, moment)
    document["anomalies"] = [a for a in side.anomalies(current.members)
                             if datetime.fromisoformat(str(a["raised_at"])) <= raised_by]
    document["follow_ups"] = side.follow_ups(current.members, raised_by)
    if view.customer_id != customer_id:
        document["resolved_from"] = customer_id
    return document


@router.get("/customers", operation_id="searchCustomers", response_model=CustomerSearch,
            responses={404: {"description": "A cursor this API did not hand out"},
                       409: {"description": "`churn_risk_min` before any churn model was fitted"}})
def search_customers(
    q: Annotated[str | None, Query(min_length=1, max_length=200,
                                   description="Start of a customer id, part of a name or "
                                   "e-mail, or phone digits.")] = None,
    churn_risk_min: Annotated[float | None, Query(
        ge=0, le=1, description="Only customers whose churn risk (the chance of no order in "
        "the next 90 days, as of now, by the latest churn model) is at least this.")] = None,
    anomaly: Annotated[Literal["any", *REASONS] | None, Query(  # type: ignore[valid-type]
        description="Only customers with an open anomaly flag (of this reason, or `any`).")] = None,
    incomplete: Annotated[Literal["any", *EXPECTED_FIELDS] | None, Query(  # type: ignore[valid-type]
        description="Only records lacking this expected field (or `any` of them).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page.")] = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Customers matching ``q`` and every filter given (none: every customer), merged
    duplicates left out, ordered by id. ``%`` and ``_`` in ``q`` match themselves. With
    ``churn_risk_min`` each customer listed shows its ``churn_risk``."""
    judge = None
    if churn_risk_min is not None:
        judge = _at_risk(side, churn_risk_min)
    try:
        page = side.customer360().search(q, limit=limit, cursor=cursor, missing=incomplete,
                                         flagged=anomaly, judge=judge)
    except InvalidCursor as error:  # names no page: not found, as an unknown id is
        raise HTTPException(404, str(error)) from None
    return {"customers": page.customers, "next_cursor": page.next_cursor}


def _at_risk(side: ReadSide, minimum: float) -> Any:
    """A search judge keeping customers whose churn risk as of now is at least ``minimum``."""
    now = datetime.now(UTC)
    model = latest_churn_model(side.models, now)
    if model is None:
        raise HTTPException(409, "no churn model fitted yet, so no churn risk to filter by "
                                 "(crm-timeline models fit churn)")

    def judge(row: dict[str, Any]) -> dict[str, Any] | None:
        if not row["order_days"]:
            return None  # no order: nothing to predict from
        history = history_of_days(row["customer_id"], row["order_days"],
                                  from_micros(row["first_order_at"]),
                                  from_micros(row["last_order_at"]), now)
        risk = model.risk(history)
        return {"churn_risk": risk} if risk >= minimum else None

    return judge
