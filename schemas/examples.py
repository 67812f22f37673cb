"""One realistic event of every type: documentation for upstream teams and test input."""

from __future__ import annotations

from typing import Any

_DATA: dict[str, dict[str, Any]] = {
    "crm.account.opened": {
        "name": "Greta Novak", "email": "greta.novak@example.com", "phone": "+49 30 1234567",
        "address": "Torstrasse 1, 10119 Berlin", "country": "DE", "segment": "consumer",
        "language": "de", "acquisition_channel": "referral",
    },
    "crm.account.updated": {"changes": {"phone": "+49 40 7654321", "address": None}},
    "crm.account.consent_changed": {"channel": "email", "granted": False},
    "crm.account.owner_assigned": {"owner_id": "A-007", "owner_name": "Sven Weber"},
    "crm.account.merged": {"duplicate_customer_id": "C-20417"},
    "crm.account.unmerged": {"duplicate_customer_id": "C-20417"},
    "crm.account.closed": {"reason": "moved abroad"},
    "crm.account.erasure_requested": {"requested_by": "customer via privacy portal"},
    "crm.contact.logged": {
        "channel": "phone", "direction": "inbound", "agent_id": "A-007",
        "subject": "delivery date", "outcome": "resolved", "duration_seconds": 245,
    },
    "crm.order.placed": {
        "order_id": "O-1042", "amount": "129.90", "currency": "EUR", "channel": "web",
        "items": [
            {"sku": "SKU-104", "name": "Grinder", "quantity": 1, "unit_price": "99.00"},
            {"sku": "SKU-101", "name": "Coffee beans 1kg", "quantity": 2, "unit_price": "15.45"},
        ],
    },
    "crm.order.cancelled": {"order_id": "O-1042", "reason": "customer changed their mind"},
    "crm.order.refunded": {"order_id": "O-1042", "amount": "30.90", "currency": "EUR"},
    "crm.complaint.opened": {
        "complaint_id": "K-311", "priority": "high", "category": "delivery", "channel": "email",
        "summary": "Parcel arrived damaged",
    },
    "crm.complaint.responded": {"complaint_id": "K-311", "agent_id": "A-007"},
    "crm.complaint.escalated": {"complaint_id": "K-311", "agent_id": "A-002", "priority": "urgent"},
    "crm.complaint.resolved": {"complaint_id": "K-311", "agent_id": "A-007",
                               "resolution": "Replacement sent"},
    "crm.complaint.reopened": {"complaint_id": "K-311", "reason": "replacement also damaged"},
    "crm.complaint.paused": {"complaint_id": "K-311", "reason": "waiting for photos"},
    "crm.complaint.resumed": {"complaint_id": "K-311"},
    "crm.survey.answered": {"survey_id": "S-88", "nps": 9, "csat": 5, "comment": "Quick help"},
}

_SOURCES = {"account": "crm/web-shop", "contact": "crm/telephony", "order": "crm/web-shop",
            "complaint": "crm/ticketing", "survey": "crm/survey-tool"}

EXAMPLES: dict[str, dict[str, Any]] = {
    event_type: {
        "specversion": "1.0",
        "id": f"example-{n:03d}",
        "source": _SOURCES[event_type.split(".")[1]],
        "type": event_type,
        "subject": "C-10042",
        "time": "2026-11-20T14:05:00+01:00",
        "datacontenttype": "application/json",
        "data": data,
    }
    for n, (event_type, data) in enumerate(_DATA.items(), start=1)
}
