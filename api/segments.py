"""Segments: admins define them in the rule language of ``domain/segment_rules.py``;
agents list them, read their members (now or as of a past moment) and counts over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field, WithJsonSchema

from api.access import Admin, requires
from api.deps import ReadSide, read_side
from api.models import (
    SegmentCounts,
    SegmentFields,
    SegmentHistory,
    SegmentMembers,
    Segments,
    SegmentVersion,
)
from api.params import OneLine, QueryTime
from domain.segment_rules import (
    FIELDS,
    NAME_PATTERN,
    OPERATORS,
    RuleError,
    check_name,
    parse_rule,
)
from projections.segments import Definition, SegmentBook
from storage.codec import from_micros

AsOf = Annotated[QueryTime | None, Query(description="Members as they stood at this moment "
                                         "(RFC 3339 with offset); default now.")]

router = APIRouter(tags=["segments"], dependencies=[Depends(requires("agent"))])

_NO_SEGMENT: dict[int | str, dict[str, Any]] = {404: {"description": "No such segment (then)"}}

SegmentName = Annotated[str, Path(pattern=NAME_PATTERN,
                                  description="lowercase letters, digits, - and _")]


class SegmentDefinition(BaseModel):
    rule: Annotated[dict[str, Any], WithJsonSchema(
        {"allOf": [{"$ref": "#/components/schemas/SegmentCondition"}]})] = Field(
        description="The conditions (see GET /segments/fields).")
    description: OneLine = Field("", max_length=500)


def _book(side: ReadSide) -> SegmentBook:
    return SegmentBook(side.views)


def _described(definition: Definition, state: dict[str, Any] | None, members: int) -> dict[str, Any]:
    progress = None
    if state is not None and state["kind"] is not None:
        progress = {"pass": state["kind"], "done": state["done"], "total": state["total"]}
    return {**definition.as_dict(), "members": members,
            "built": state is not None and state["version"] == definition.version
            and state["kind"] != "build", "in_progress": progress}


@router.get("/segments", operation_id="listSegments", response_model=Segments)
def list_segments(side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Every segment's current definition, its member count and the pass in progress (a
    new version is judged over every customer in the background)."""
    book = _book(side)
    with side.views.read() as db:
        current, passes = book.current(db), book.passes_of(db)
        return {"segments": [_described(d, passes.get(name), book.size(db, name))
                             for name, d in current.items()]}


@router.get("/segments/fields", operation_id="listSegmentFields", response_model=SegmentFields)
def segment_fields() -> dict[str, Any]:
    """What a rule may test, and with which operators."""
    return {"operators": list(OPERATORS),
            "fields": {name: {"kind": f.kind, "description": f.description, "timed": f.timed}
                       for name, f in FIELDS.items()}}


@router.put("/segments/{name}", dependencies=[Depends(requires("admin"))],
            operation_id="defineSegment", response_model=SegmentVersion,
            responses={400: {"description": "The rule cannot be used (too deep or too many "
                             "conditions), or the name is `fields`"}})
def define_segment(name: SegmentName, body: SegmentDefinition, caller: Admin,
                   side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """A new version of the segment (the old ones stay in its history); its members are
    judged again by it over every customer, in the background."""
    try:
        rule = parse_rule(body.rule)
        check_name(name)
    except RuleError as error:
        raise HTTPException(400, f"the rule cannot be used: {error}") from None
    return _book(side).define(name, rule, body.description, caller.name).as_dict()


@router.delete("/segments/{name}", dependencies=[Depends(requires("admin"))],
               operation_id="retireSegment", response_model=SegmentVersion, responses=_NO_SEGMENT)
def retire_segment(name: SegmentName, caller: Admin,
                   side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Retire the segment: every member exits (published as exits); its history stays."""
    book = _book(side)
    with side.views.read() as db:
        current = book.current(db).get(name)
    if current is None or current.rule is None:
        raise HTTPException(404, f"no segment {name!r} to retire")
    return book.define(name, None, f"retired by {caller.name}", caller.name).as_dict()


@router.get("/segments/{name}", operation_id="getSegmentHistory", response_model=SegmentHistory,
            responses=_NO_SEGMENT)
def segment_history(name: SegmentName, side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Every version of the segment, oldest first: what it meant when."""
    with side.views.read() as db:
        versions = _book(side).history(db, name)
    if not versions:
        raise HTTPException(404, f"no segment {name!r}")
    return {"name": name, "versions": [v.as_dict() for v in versions]}


@router.get("/segments/{name}/members", operation_id="listSegmentMembers",
            response_model=SegmentMembers, responses=_NO_SEGMENT)
def segment_members(
    name: SegmentName,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page")] = None,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Members in id order, now or as they stood at ``as_of``, with when each entered;
    paged by ``cursor``."""
    book = _book(side)
    with side.views.read() as db:
        if not book.history(db, name):
            raise HTTPException(404, f"no segment {name!r}")
        if as_of is not None and book.defined_at(db, name, as_of) is None:
            raise HTTPException(404, f"segment {name!r} was not defined yet at {as_of.isoformat()}")
        rows = book.page(db, name, as_of=as_of, after=cursor, limit=limit + 1)
        people = side.customer360().summaries(db, [r["customer_id"] for r in rows[:limit]])
    shown = [{**people.get(r["customer_id"], {"customer_id": r["customer_id"]}),
              "entered_at": from_micros(r["entered_at"]).isoformat(), "version": r["version"]}
             for r in rows[:limit]]
    return {"segment": name, "as_of": as_of.isoformat() if as_of else None, "members": shown,
            "next_cursor": rows[limit - 1]["customer_id"] if len(rows) > limit else None}


@router.get("/segments/{name}/counts", operation_id="getSegmentCounts",
            response_model=SegmentCounts, responses=_NO_SEGMENT)
def segment_counts(
    name: SegmentName,
    days: Annotated[int, Query(ge=1, le=366, description="how many days back")] = 30,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Members at the end of each of the last ``days`` days (UTC), and now."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    moments = [midnight - timedelta(days=n) for n in range(days - 1, -1, -1)] + [now]
    book = _book(side)
    with side.views.read() as db:
        if not book.history(db, name):
            raise HTTPException(404, f"no segment {name!r}")
        counts = book.counts(db, name, moments)
    return {"segment": name, "counts": [{"at": m.isoformat(), "members": n}
                                        for m, n in zip(moments, counts, strict=True)]}
