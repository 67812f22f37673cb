"""One-line, human summaries of customer facts, as a support agent reads them.

Account changes say who made them when the source did ("Profile updated by agent A-007:
phone"), so an agent tells the customer's own update from a colleague's. A summary is
made of the fact's data alone: what the data leaves to context (a refund's currency is
the order's when absent) the caller fills in first (``projections/timeline.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.profile_history import actor_of, actor_phrase

Data = Mapping[str, Any]


def _money(amount: Any, currency: Any = None) -> str:
    """The amount with its currency; an unknown currency is left out, never "None", and
    a missing or unreadable amount says so rather than failing the whole timeline row."""
    try:
        figure = f"{Decimal(str(amount)):.2f}"
    except InvalidOperation:
        return "amount unknown"
    return f"{figure} {currency or ''}".strip()


def _opened(d: Data) -> str:
    via = f" via {d['acquisition_channel']}" if d.get("acquisition_channel") else ""
    return f"Account opened for {d.get('name') or 'a new customer'}{via}"


def _by(d: Data) -> str:
    """" by agent A-007" when the change names its actor, else nothing (old facts)."""
    phrase = actor_phrase(actor_of(d))
    return f" {phrase}" if phrase else ""


def _updated(d: Data) -> str:
    fields = ", ".join(sorted(d.get("changes") or {})) or "nothing"
    return f"Profile updated{_by(d)}: {fields}"


def _consent(d: Data) -> str:
    verb = "granted" if d.get("granted") else "withdrawn"
    return f"Consent for {d.get('channel')} {verb}{_by(d)}"


def _refunded(d: Data) -> str:
    """With the refund's currency; when it has none it is the order's, which only the caller
    can look up (``projections/timeline.py`` does)."""
    return f"Order {d.get('order_id')} refunded: {_money(d.get('amount'), d.get('currency'))}"


def _contact(d: Data) -> str:
    direction = "Inbound" if d.get("direction") == "inbound" else "Outbound"
    parts = [f"{direction} {d.get('channel')} contact"]
    if d.get("subject"):
        parts.append(f"about {d['subject']!r}")
    if d.get("outcome"):
        parts.append(f"({str(d['outcome']).replace('_', ' ')})")
    if d.get("duration_seconds"):
        minutes, seconds = divmod(int(d["duration_seconds"]), 60)
        parts.append(f"{minutes}m{seconds:02d}s")
    return " ".join(parts)


def _order_placed(d: Data) -> str:
    items = d.get("items") or []
    count = sum(int(item.get("quantity", 1)) for item in items)
    noun = "item" if count == 1 else "items"
    via = f" via {d['channel']}" if d.get("channel") else ""
    return f"Order {d.get('order_id')} placed: {count} {noun}, {_money(d.get('amount'), d.get('currency'))}{via}"


def _complaint_opened(d: Data) -> str:
    category = f" ({d['category']})" if d.get("category") else ""
    summary = f": {d['summary']}" if d.get("summary") else ""
    return f"Complaint {d.get('complaint_id')} opened, {d.get('priority')} priority{category}{summary}"


def _survey(d: Data) -> str:
    scores = []
    if d.get("nps") is not None:
        scores.append(f"NPS {d['nps']}")
    if d.get("csat") is not None:
        scores.append(f"CSAT {d['csat']}")
    return f"Survey answered: {', '.join(scores) or 'no score'}"


def _complaint(verb: str) -> Callable[[Data], str]:
    return lambda d: f"Complaint {d.get('complaint_id')} {verb}"


SUMMARIES: dict[str, Callable[[Data], str]] = {
    "crm.account.opened": _opened,
    "crm.account.updated": _updated,
    "crm.account.consent_changed": _consent,
    "crm.account.owner_assigned":
        lambda d: f"Owner assigned: {d.get('owner_name') or d.get('owner_id')}{_by(d)}",
    "crm.account.merged": lambda d: f"Duplicate account {d.get('duplicate_customer_id')} merged in",
    "crm.account.unmerged": lambda d: f"Merge of {d.get('duplicate_customer_id')} undone",
    "crm.account.closed":
        lambda d: f"Account closed ({d.get('reason') or 'no reason given'}){_by(d)}",
    "crm.account.erasure_requested": lambda d: "Erasure of personal data requested",
    "crm.contact.logged": _contact,
    "crm.order.placed": _order_placed,
    "crm.order.cancelled": lambda d: f"Order {d.get('order_id')} cancelled ({d.get('reason') or 'no reason given'})",
    "crm.order.refunded": _refunded,
    "crm.complaint.opened": _complaint_opened,
    "crm.complaint.responded": _complaint("answered"),
    "crm.complaint.escalated": lambda d: f"Complaint {d.get('complaint_id')} escalated"
    + (f" to {d['priority']} priority" if d.get("priority") else ""),
    "crm.complaint.resolved": _complaint("resolved"),
    "crm.complaint.reopened": _complaint("reopened"),
    "crm.complaint.paused": lambda d: f"Complaint {d.get('complaint_id')} paused: waiting on the customer"
    + (f" ({d['reason']})" if d.get("reason") else ""),
    "crm.complaint.resumed": _complaint("resumed"),
    "crm.survey.answered": _survey,
}


def summarize(event_type: str, data: Data) -> str:
    """The summary line of one fact; every stored type has one."""
    return SUMMARIES[event_type](data)
