"""Version-1 payloads of what the service publishes: alerts on ``crm.alerts`` and segment
entries and exits on ``crm.segments``, each the ``data`` of a CloudEvent of its own type.

Receivers build on these, so each type gets its own JSON Schema (``schemas/json/``,
``python -m schemas.export``) like the ingested ones. The ``data`` is the message the
topics carried before they were CloudEvents, unchanged, so a receiver that read it then
reads it now under ``data``. Models forbid unknown fields: a field added to an alert
without its schema fails the tests, not a receiver.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import CustomerId, Rfc3339
from schemas.payloads import ConsentChannel, ContactChannel, Priority
from schemas.text import FREE_TEXT_PATTERN, SINGLE_LINE_PATTERN

#: The CloudEvents ``source`` of each outbound family: which part of the service said it.
ALERTS_SOURCE = "crm-timeline/alerts"
SEGMENTS_SOURCE = "crm-timeline/segments"
#: The media type of a structured-mode CloudEvent (the Kafka binding's ``content-type``).
CLOUDEVENTS_JSON = "application/cloudevents+json"
#: A dead letter's own ``content-type``: its value is the rejected bytes, whatever they are.
DEADLETTER_CONTENT_TYPE = "application/octet-stream"
#: Where a dead letter keeps the rejected message's own ``content-type`` header.
ORIGINAL_CONTENT_TYPE_HEADER = "dlq.content_type"

_Line = Annotated[str, StringConstraints(min_length=1, pattern=SINGLE_LINE_PATTERN)]
_Text = Annotated[str, StringConstraints(pattern=FREE_TEXT_PATTERN)]


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublishedEvent(Published):
    """The CloudEvent envelope of everything published, in structured mode
    (``content-type: application/cloudevents+json``)."""

    specversion: Literal["1.0"]
    id: _Line = Field(description="The alert id or change id: stable across republishing.")
    source: _Line
    type: _Line
    subject: CustomerId = Field(description="The customer id.")
    time: Rfc3339 = Field(description="When it was raised, or the change happened.")
    datacontenttype: Literal["application/json"]
    dataschema: _Line = Field(description="The `$id` of the type's JSON Schema.")
    data: dict[str, Any]


class AlertBase(Published):
    """What every alert says: its stable id (the CloudEvent ``id``, the Kafka key of old
    and the ``alert_id`` header), its kind, whose it is and when it was raised."""

    alert_id: _Line = Field(description="Stable: the same alert published again keeps it.")
    customer_id: CustomerId
    raised_at: Rfc3339


class SlaAlert(AlertBase):
    """A complaint deadline breached or at risk (80% of its target used)."""

    kind: Literal["sla_breach", "sla_at_risk"]
    complaint_id: _Line
    deadline: Literal["first_response", "resolution"]
    cycle: int = Field(ge=0, description="Which opening of the complaint (reopens count up).")
    priority: Priority
    due: Rfc3339
    at: Rfc3339 = Field(description="When it was breached, or became at risk.")


class SlaBreached(SlaAlert):
    """A complaint deadline passed unmet, or was met late."""

    kind: Literal["sla_breach"]


class SlaAtRisk(SlaAlert):
    """A complaint deadline has used 80% of its target."""

    kind: Literal["sla_at_risk"]


class ContactFatigue(AlertBase):
    """More outbound contacts within the trailing window than the policy allows."""

    kind: Literal["contact_fatigue"]
    outbound_in_window: int = Field(ge=1)
    window_days: int = Field(ge=0)


class OutboundWithoutConsent(AlertBase):
    """An outbound contact on a channel whose consent the customer withdrew."""

    kind: Literal["outbound_without_consent"]
    channel: ContactChannel
    consent: ConsentChannel


class FollowUpOverdue(AlertBase):
    """A promised follow-up not made by its due time."""

    kind: Literal["follow_up_overdue"]
    task_id: _Line
    due: Rfc3339
    opened_at: Rfc3339
    agent_id: _Line | None
    channel: ContactChannel | None


class FactSetAside(AlertBase):
    """A stored fact a read model could not apply and went on without."""

    kind: Literal["fact_set_aside"]
    read_model: _Line
    position: int
    event_id: _Line
    event_type: _Line
    error: _Text


class Anomaly(AlertBase):
    """An order or account change far outside the customer's own pattern."""

    kind: Literal["anomaly"]
    summary: _Text = Field(description="The flag in words an agent can repeat.")
    event_id: _Line = Field(description="The fact that raised it.")


class AmountOutlier(Anomaly):
    """An order far above the customer's usual amount in its currency."""

    reason: Literal["amount_outlier"]
    amount: _Line
    currency: _Line
    median: _Line
    deviation: _Line
    earlier_orders: int = Field(ge=0)


class OrderBurst(Anomaly):
    """Many orders within a few minutes."""

    reason: Literal["order_burst"]
    orders: int = Field(ge=1)
    minutes: float
    first: Rfc3339
    last: Rfc3339


class RefundHeavy(Anomaly):
    """Refunds on most of the customer's orders."""

    reason: Literal["refund_heavy"]
    refunded_orders: int = Field(ge=0)
    orders: int = Field(ge=0)


class ContactChangeThenOrder(Anomaly):
    """The e-mail or phone changed, then an order soon after (account takeover)."""

    reason: Literal["contact_change_then_order"]
    changed: list[_Line] = Field(description="Which fields changed, never their values.")
    hours: float
    window_hours: float


class SegmentChange(Published):
    """A customer entered or left a segment; ``reasons`` say why in words."""

    change_id: _Line = Field(description="Stable: the same change published again keeps it.")
    type: Literal["crm.segment.entered", "crm.segment.exited"]
    segment: _Line
    version: int = Field(ge=1, description="The segment version that judged it.")
    customer_id: CustomerId
    at: Rfc3339
    reasons: list[_Text]


class SegmentEntered(SegmentChange):
    """A customer entered a segment."""

    type: Literal["crm.segment.entered"]


class SegmentExited(SegmentChange):
    """A customer left a segment (or the segment was retired, or the customer merged)."""

    type: Literal["crm.segment.exited"]


#: CloudEvent type of each alert kind; anomalies by their reason.
ALERT_TYPES: dict[str, str] = {
    "sla_breach": "crm.sla.breached",
    "sla_at_risk": "crm.sla.at_risk",
    "contact_fatigue": "crm.contact.fatigue",
    "outbound_without_consent": "crm.contact.outbound_without_consent",
    "follow_up_overdue": "crm.follow_up.overdue",
    "fact_set_aside": "crm.fact.set_aside",
}
ANOMALY_TYPES: dict[str, str] = {
    "amount_outlier": "crm.anomaly.amount_outlier",
    "order_burst": "crm.anomaly.order_burst",
    "refund_heavy": "crm.anomaly.refund_heavy",
    "contact_change_then_order": "crm.anomaly.contact_change_then_order",
}

#: The ``data`` model of every published type.
ALERT_PAYLOADS: dict[str, type[BaseModel]] = {
    "crm.sla.breached": SlaBreached,
    "crm.sla.at_risk": SlaAtRisk,
    "crm.contact.fatigue": ContactFatigue,
    "crm.contact.outbound_without_consent": OutboundWithoutConsent,
    "crm.follow_up.overdue": FollowUpOverdue,
    "crm.fact.set_aside": FactSetAside,
    "crm.anomaly.amount_outlier": AmountOutlier,
    "crm.anomaly.order_burst": OrderBurst,
    "crm.anomaly.refund_heavy": RefundHeavy,
    "crm.anomaly.contact_change_then_order": ContactChangeThenOrder,
}
SEGMENT_PAYLOADS: dict[str, type[BaseModel]] = {
    "crm.segment.entered": SegmentEntered,
    "crm.segment.exited": SegmentExited,
}
PUBLISHED_TYPES: dict[str, type[BaseModel]] = {**ALERT_PAYLOADS, **SEGMENT_PAYLOADS}


def alert_type(message: dict[str, Any]) -> str:
    """The CloudEvent type of an alert message (``projections.alerts.alert_message``)."""
    if message["kind"] == "anomaly":
        return ANOMALY_TYPES[message["reason"]]
    return ALERT_TYPES[message["kind"]]


def dataschema(event_type: str) -> str:
    """The ``$id`` of a type's JSON Schema, as each published CloudEvent names it."""
    return f"urn:crm-timeline:schema:{event_type}:1"


def alert_cloudevent(message: dict[str, Any]) -> dict[str, Any]:
    """An alert as a structured-mode CloudEvent: ``id`` the alert id (stable, so a
    republished alert is the same event), ``subject`` the customer."""
    event_type = alert_type(message)
    return _cloudevent(event_type, message["alert_id"], ALERTS_SOURCE, message["customer_id"],
                       message["raised_at"], message)


def segment_cloudevent(message: dict[str, Any]) -> dict[str, Any]:
    """A segment entry or exit as a structured-mode CloudEvent (``id`` the change id)."""
    return _cloudevent(message["type"], message["change_id"], SEGMENTS_SOURCE,
                       message["customer_id"], message["at"], message)


def _cloudevent(event_type: str, event_id: str, source: str, subject: str, time: str,
                data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": event_type,
            "subject": subject, "time": time, "datacontenttype": "application/json",
            "dataschema": dataschema(event_type), "data": data}
