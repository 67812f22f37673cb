"""The customer 360 view, its loyalty score and customer search.

A duplicate id merged into another customer resolves to the survivor: the
answer is the survivor's view, with ``customer_id`` the survivor's id and
``resolved_from`` the id that was asked for (an alias, not a redirect, since an
unmerge can make the duplicate its own customer again).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from api.access import requires
from api.deps import ReadSide, read_side
from api.params import CustomerId, QueryTime
from domain.customer360 import CustomerFold, by_event_time
from domain.facts import CustomerFact
from predictions.fitting import churn_of
from projections.customer360 import to_json, view_document
from projections.paging import InvalidCursor
from projections.set_aside import feed_each
from schemas.text import printable
from storage.errors import explain

log = logging.getLogger(__name__)

router = APIRouter(tags=["customers"], dependencies=[Depends(requires("agent"))])

AsOf = Annotated[
    QueryTime | None,
    Query(description="Read the view as it was at this moment (RFC 3339 with offset, between "
          "1900 and 9000); default now."),
]


def _as_of(as_of: datetime | None) -> datetime:
    return datetime.now(UTC) if as_of is None else as_of


def _fold(side: ReadSide, customer_id: str, as_of: datetime
          ) -> tuple[Any, list[str], list[CustomerFact]]:
    """The 360 of the customer's group as of ``as_of``, its members and their facts."""
    root, members = side.group(customer_id)
    facts = side.facts(members)
    if not any(f.occurred_at <= as_of for f in facts):
        raise HTTPException(404, f"no customer {customer_id!r} known as of {as_of.isoformat()}")
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


@router.get("/customers/{customer_id:path}/loyalty")
def customer_loyalty(customer_id: CustomerId, as_of: AsOf = None,
                     side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """The loyalty score as of a moment, with R, F, M, E, base, penalty and tier."""
    view, _, _ = _fold(side, customer_id, _as_of(as_of))
    return {"customer_id": view.customer_id, **to_json(view.loyalty)}


# Declared after every longer /customers/{customer_id:path}/... route (and app.py includes
# the timeline's router first): a path parameter takes slashes, and the first match wins.
@router.get("/customers/{customer_id:path}")
def customer_360(customer_id: CustomerId, as_of: AsOf = None,
                 side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Profile, status, owner, consents, purchase pattern, complaints, contacts,
    satisfaction, loyalty with its components, flags, churn risk with its reasons, and the
    anomaly flags raised by then."""
    moment = _as_of(as_of)
    view, members, facts = _fold(side, customer_id, moment)
    document = view_document(view)
    document["merged_ids"] = members[1:]
    document["churn"] = churn_of(side.models, view.customer_id, facts, moment)
    document["anomalies"] = [a for a in side.anomalies(members)
                             if datetime.fromisoformat(str(a["raised_at"])) <= moment]
    if view.customer_id != customer_id:
        document["resolved_from"] = customer_id
    return document


@router.get("/customers")
def search_customers(
    q: Annotated[str, Query(min_length=1, max_length=200,
                            description="Start of a customer id, part of a name or e-mail, or phone digits.")],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page.")] = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Customers matching ``q`` (an id prefix, so search works as you type), merged
    duplicates left out, ordered by id. ``%`` and ``_`` in ``q`` match themselves."""
    try:
        page = side.customer360().search(q, limit=limit, cursor=cursor)
    except InvalidCursor as error:
        raise HTTPException(400, str(error)) from None
    return {"customers": page.customers, "next_cursor": page.next_cursor}
