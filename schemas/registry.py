"""Which payload model each wire type carries, and which topic each family uses."""

from __future__ import annotations

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
