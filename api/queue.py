"""The agent's work queue: what needs doing next, for the customers they own.

Three kinds of work, soonest ``due_at`` first (ties by customer id):

* ``complaint``: an open complaint, due at its next SLA deadline (the first response
  until there is one, then the resolution; ``projections/complaint_sla.py``);
* ``follow_up``: an open follow-up task, due when it was promised
  (``projections/follow_ups.py``);
* ``alert``: an open (unacknowledged) alert, due since it was raised.

Whose work: customers owned (now, by the live 360 rows) by the agents chosen with
``agent``, ``team`` (the agents its keys name) and ``owner``, which combine (each
narrows the others). With none of them, the caller's own agent id (``keys create
--agent``); a key naming no agent sees everyone's work, owned or not. ``overdue``:
the due time has passed; a complaint is breached at its deadline (as the SLA clock
judges), a follow-up only after it (``domain/follow_ups.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from access.keys import KeyRing
from api.access import Agent, requires
from api.deps import ReadSide, read_side
from api.params import OneLine
from storage.codec import from_micros

router = APIRouter(tags=["queue"], dependencies=[Depends(requires("agent"))])

Kind = Literal["complaint", "follow_up", "alert"]
#: RFC 3339 text as every other answer of the API writes it (``+00:00``, not ``Z``).
Moment = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Owner(BaseModel):
    id: str
    name: str | None


class QueueItem(BaseModel):
    kind: Kind
    due_at: Moment
    overdue: bool
    customer_id: str
    customer_name: str | None
    owner: Owner | None
    title: str
    deadline: Literal["first_response", "resolution"] | None
    complaint_id: str | None
    task_id: str | None
    alert_id: str | None
    alert_kind: str | None


class Queue(BaseModel):
    agent: str | None
    generated_at: Moment
    items: list[QueueItem]


def _when(moment: datetime, now: datetime) -> str:
    """A time as an agent reads it: the clock time today, the date too otherwise."""
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


def _owners(keys: KeyRing, caller: Any, agent: str | None, team: str | None,
            owner: str | None) -> tuple[str | None, set[str] | None]:
    """(the agent whose queue it is, the owner ids whose customers' work it lists; None:
    everyone's)."""
    shown = agent if agent is not None or team or owner else caller.agent_id
    chosen: set[str] | None = {shown} if shown is not None else None
    if team is not None:
        members = keys.team(team)
        if members is None:
            raise HTTPException(404, f"no team {team!r}: no active key names an agent of it "
                                     f"(crm-timeline keys create --agent ID --team {team})")
        chosen = set(members) if chosen is None else chosen & set(members)
    if owner is not None:
        chosen = {owner} if chosen is None else chosen & {owner}
    return shown, chosen


@router.get("/queue", response_model=Queue, operation_id="getWorkQueue",
            responses={404: {"description": "No such agent or team"}})
def work_queue(
    request: Request,
    caller: Agent,
    agent: Annotated[OneLine | None, Query(min_length=1, max_length=64, description="Whose queue (an agent id); default: the "
                                  "key's agent, or everyone's for a key naming none.")] = None,
    team: Annotated[OneLine | None, Query(min_length=1, max_length=64, description="Only customers owned by agents of this team "
                                 "(as their keys name it).")] = None,
    owner: Annotated[OneLine | None, Query(min_length=1, max_length=64,
                                           description="Only customers of this owner id.")] = None,
    kind: Annotated[Kind | None, Query(description="Only this kind of work.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Open complaints by next SLA deadline, follow-ups due and open alerts of the
    customers the chosen agents own, soonest first."""
    keys: KeyRing = request.app.state.keys
    now = datetime.now(UTC)
    shown, chosen = _owners(keys, caller, agent, team, owner)
    people = side.customer360()
    with side.views.read() as db:
        customers = None if chosen is None else people.owned_by(db, sorted(chosen))
        if agent is not None and not customers and not keys.names_agent(agent) \
                and not people.owned_by(db, [agent]):
            raise HTTPException(404, f"no agent {agent!r}: no active key names it and no "
                                     "customer is owned by it")
        if customers == []:
            return {"agent": shown, "generated_at": now.isoformat(), "items": []}
        items: list[dict[str, Any]] = []
        if kind in (None, "complaint"):
            items += [_complaint(row, now) for row in
                      side.complaint_clocks().open_deadlines(db, customers, limit)]
        if kind in (None, "follow_up"):
            items += [_follow_up(task, now) for task in
                      side.follow_up_book().open_tasks(db, customers, limit)]
        if kind in (None, "alert"):
            items += [_alert(row, now) for row in side.alert_book.waiting(db, customers, limit)]
    items.sort(key=lambda i: (i["due_at"], i["customer_id"], i["kind"],
                              i["complaint_id"] or i["task_id"] or i["alert_id"]))
    items = items[:limit]
    who = side.owners(sorted({i["customer_id"] for i in items}))
    for item in items:
        found = who.get(item["customer_id"], {})
        item["customer_id"] = found.get("customer_id", item["customer_id"])
        item["customer_name"] = found.get("customer_name")
        item["owner"] = found.get("owner")
        item["title"] = item.pop("words")(item["customer_name"] or item["customer_id"])
        item["due_at"] = item["due_at"].isoformat()
    return {"agent": shown, "generated_at": now.isoformat(), "items": items}


def _item(kind: Kind, due: datetime, overdue: bool, customer_id: str, **ids: Any) -> dict[str, Any]:
    return {"kind": kind, "due_at": due, "overdue": overdue, "customer_id": customer_id,
            "customer_name": None, "owner": None, "deadline": None, "complaint_id": None,
            "task_id": None, "alert_id": None, "alert_kind": None, **ids}


def _complaint(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    due = from_micros(row["due_at"])
    what = "a first response" if row["deadline"] == "first_response" else "resolving"
    late = now >= due  # breached at its deadline, as the SLA clock judges
    words = (f"Complaint {row['complaint_id']} ({row['priority']}) "
             + (f"missed its deadline for {what} at {_when(due, now)}" if late
                else f"needs {what} by {_when(due, now)}"))
    return _item("complaint", due, late, row["customer_id"], deadline=row["deadline"],
                 complaint_id=row["complaint_id"], words=lambda _: words)


def _follow_up(task: Any, now: datetime) -> dict[str, Any]:
    late = task.is_overdue(now)
    contact = f"{task.channel} contact" if task.channel else "contact"

    def words(customer: str) -> str:
        if late:
            return (f"Follow-up with {customer} overdue since {_when(task.due_at, now)} "
                    f"(promised on the {contact} of {_when(task.opened_at, now)})")
        return (f"Follow up with {customer} by {_when(task.due_at, now)} "
                f"(promised on the {contact} of {_when(task.opened_at, now)})")

    return _item("follow_up", task.due_at, late, task.customer_id, task_id=task.task_id,
                 words=words)


def _alert(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    raised = from_micros(row["raised_at"])
    summary = row["summary"]

    def words(customer: str) -> str:
        return summary or f"{row['kind'].replace('_', ' ').capitalize()} alert for {customer}"

    return _item("alert", raised, now > raised, row["customer_id"], alert_id=row["alert_id"],
                 alert_kind=row["kind"], words=words)
