"""Which payload model each wire type carries, which topic each family uses, and which
of its fields are personal data."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel

from schemas import payloads as p

EVENT_TYPES: dict[str, type[BaseModel]] = {
    "crm.account.opened": p.AccountOpened,
    "crm.account.updated": p.AccountUpdated,
    "crm.account.consent_changed": p.ConsentChanged,
    "crm.account.owner_assigned": p.OwnerAssigned,
    "crm.account.merged": p.AccountsMerged,
    "crm.account.unmerged": p.AccountsUnmerged,
    "crm.account.closed": p.AccountClosed,
    "crm.account.erasure_requested": p.ErasureRequested,
    "crm.contact.logged": p.ContactLogged,
    "crm.order.placed": p.OrderPlaced,
    "crm.order.cancelled": p.OrderCancelled,
    "crm.order.refunded": p.OrderRefunded,
    "crm.complaint.opened": p.ComplaintOpened,
    "crm.complaint.responded": p.ComplaintResponded,
    "crm.complaint.escalated": p.ComplaintEscalated,
    "crm.complaint.resolved": p.ComplaintResolved,
    "crm.complaint.reopened": p.ComplaintReopened,
    "crm.complaint.paused": p.ComplaintPaused,
    "crm.complaint.resumed": p.ComplaintResumed,
    "crm.survey.answered": p.SurveyAnswered,
}

#: Types that change who a customer is or erase them: only trusted publishers may send
#: them (an HTTP key with an explicit permission; on Kafka, the accounts topic alone,
#: whose writers Kafka ACLs restrict).
PRIVILEGED_TYPES = frozenset({"crm.account.merged", "crm.account.unmerged",
                              "crm.account.erasure_requested"})

#: Default topic of each type family (surveys travel with contacts).
TOPIC_FAMILIES: dict[str, str] = {
    "crm.account": "crm.accounts",
    "crm.contact": "crm.contacts",
    "crm.order": "crm.orders",
    "crm.complaint": "crm.complaints",
    "crm.survey": "crm.contacts",
}


def default_topic(event_type: str) -> str:
    """The topic an event of this wire type is published to by default."""
    return TOPIC_FAMILIES[event_type.rsplit(".", 1)[0]]


Path = tuple[str, ...]


@cache
def personal_fields(event_type: str) -> tuple[Path, ...]:
    """Paths into the payload of the fields marked personal (``schemas.fields.PERSONAL``),
    e.g. ``("name",)`` or ``("changes", "email")``; nested models are walked."""
    return tuple(_personal_paths(EVENT_TYPES[event_type], ()))


def _personal_paths(model: type[BaseModel], prefix: Path) -> list[Path]:
    paths: list[Path] = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("x-personal"):
            paths.append((*prefix, name))
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths += _personal_paths(field.annotation, (*prefix, name))
    return paths
