"""Duplicate candidates of a customer, and what merging one would change.

Merging itself stays an upstream decision (``crm.account.merged``, sent by whoever
owns customer master data); these routes help an agent make it: who is probably
the same person and why, then the survivor's 360 after the merge, what moves
(tier, lifetime value, open complaints) and what a person must settle first
(two owners, consents that disagree, profile fields that differ).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from api.access import requires
from api.customers import group_view
from api.deps import ReadSide, read_side
from api.models import DuplicateCandidates, MergePreview
from api.params import CustomerId
from domain.customer360 import Customer360
from domain.merges import MAX_GROUP_SIZE
from projections.customer360 import view_document

router = APIRouter(tags=["customers"], dependencies=[Depends(requires("agent"))])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such customer"}}

#: Profile fields whose values, when the two records disagree, a person should settle.
_COMPARED = ("name", "email", "phone", "address", "country", "language", "segment")


def _known(side: ReadSide, customer_id: str) -> tuple[str, list[str], list[Any]]:
    root, members = side.group(customer_id)
    facts = side.facts(members)
    if not facts:
        raise HTTPException(404, f"no customer {customer_id!r}")
    return root, members, facts


@router.get("/customers/{customer_id:path}/duplicates", operation_id="listDuplicateCandidates",
            response_model=DuplicateCandidates, responses=_NOT_FOUND)
def duplicate_candidates(customer_id: CustomerId,
                         side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Customers who are probably the same person: the same e-mail (normalised), the same
    phone (E.164), or a similar name at the same address; each with a score (0-1) and the
    reasons in words, best first."""
    root, members, _ = _known(side, customer_id)
    return {"customer_id": root, "candidates": side.duplicates(members)}


@router.get("/customers/{customer_id:path}/merge-preview", operation_id="previewMerge",
            response_model=MergePreview,
            responses={**_NOT_FOUND, 409: {"description": "The two are already one customer"}})
def merge_preview(
    customer_id: CustomerId,
    duplicate: Annotated[str, Query(min_length=1, max_length=64,
                                    description="The customer that would be merged into this one.")],
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """The survivor's 360 as it would be after merging ``duplicate`` into it, what changes,
    and the conflicts to settle. Nothing is merged: send ``crm.account.merged`` for that."""
    now = datetime.now(UTC)
    root, members, facts = _known(side, customer_id)
    other, other_members, other_facts = _known(side, duplicate)
    if other == root:
        raise HTTPException(409, f"{duplicate!r} and {customer_id!r} are already one customer "
                                 f"({root!r})")
    before, theirs = group_view(side, root, facts, now), group_view(side, other, other_facts, now)
    after = group_view(side, root, facts + other_facts, now)
    document = view_document(after)
    document["merged_ids"] = [*members[1:], *other_members]
    conflicts = _conflicts(before, theirs, after)
    if len(members) + len(other_members) > MAX_GROUP_SIZE:
        conflicts.insert(0, {"field": "group", "reason": f"the merge would be refused: a group "
                             f"holds at most {MAX_GROUP_SIZE} customer ids"})
    return {"survivor_id": root, "duplicate_id": other, "after": document,
            "changes": _changes(before, after), "conflicts": conflicts}


def _changes(before: Customer360, after: Customer360) -> dict[str, Any]:
    return {
        "loyalty_tier": {"before": before.loyalty.tier, "after": after.loyalty.tier},
        "loyalty_score": {"before": before.loyalty.score, "after": after.loyalty.score},
        "lifetime_value": {"before": before.orders["lifetime_value"],
                           "after": after.orders["lifetime_value"]},
        "orders": {"before": before.orders["count"], "after": after.orders["count"]},
        "open_complaints": {"before": before.complaints["open"], "after": after.complaints["open"]},
    }


def _conflicts(ours: Customer360, theirs: Customer360, after: Customer360) -> list[dict[str, Any]]:
    """What the two records disagree on, and what the merged record would hold meanwhile."""
    found: list[dict[str, Any]] = []
    if ours.owner and theirs.owner and ours.owner["id"] != theirs.owner["id"]:
        found.append({"field": "owner", "survivor": ours.owner["id"], "duplicate": theirs.owner["id"],
                      "after": (after.owner or {}).get("id"),
                      "reason": "two owners: the latest assignment stands until an agent "
                                "assigns one (crm.account.owner_assigned)"})
    for channel in sorted(set(ours.consents) & set(theirs.consents)):
        if ours.consents[channel] != theirs.consents[channel]:
            found.append({"field": f"consents.{channel}", "survivor": ours.consents[channel],
                          "duplicate": theirs.consents[channel],
                          "after": after.consents.get(channel),
                          "reason": f"{channel} consent disagrees: the stricter (no consent) "
                                    "wins until the customer's choice is recorded after the "
                                    "merge (crm.account.consent_changed)"})
    for name in _COMPARED:
        mine, other = ours.profile.get(name), theirs.profile.get(name)
        if mine is not None and other is not None and mine != other:
            found.append({"field": f"profile.{name}", "survivor": mine, "duplicate": other,
                          "after": after.profile.get(name),
                          "reason": f"the records give different {name}s: the most recent "
                                    "stands until an agent corrects it (crm.account.updated)"})
    return found
