"""Version-1 payloads (the CloudEvent ``data``) of every CRM event type, SPEC §2.

Unknown fields are rejected (``extra="forbid"``): a typo or an unannounced
field, possibly personal data, surfaces in the dead-letter topic at once
instead of being stored unnoticed; new fields arrive with a new schema version.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=2000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


def _decimal_string(value: object) -> object:
    """Amounts travel as strings: a JSON number would pass through binary floating point."""
    if not isinstance(value, str):
        raise ValueError("must be a decimal string such as '129.90'")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "examples": ["129.90"]}),
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactChannel(StrEnum):
    phone = "phone"
    email = "email"
    visit = "visit"
    chat = "chat"
    sms = "sms"
    social = "social"
    video = "video"
    letter = "letter"


class ConsentChannel(StrEnum):
    email = "email"
    sms = "sms"
    phone = "phone"
    post = "post"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Outcome(StrEnum):
    resolved = "resolved"
    follow_up = "follow_up"
    no_answer = "no_answer"
    escalated = "escalated"
    sale = "sale"
    other = "other"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class AccountOpened(Payload):
    """A new customer account: who they are and how they found us."""

    name: ShortText
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    address: Text | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    segment: ShortText | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] | None = None
    acquisition_channel: ShortText | None = None


class ProfileChanges(Payload):
    """Profile fields set to a new value; null clears a field."""

    name: ShortText | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    address: Text | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    segment: ShortText | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] | None = None


class AccountUpdated(Payload):
    """The customer (self-service) or an agent changed profile fields."""

    changes: ProfileChanges

    @model_validator(mode="after")
    def _something_changed(self) -> AccountUpdated:
        if not self.changes.model_fields_set:
            raise ValueError("changes must name at least one profile field")
        return self


class ConsentChanged(Payload):
    """Marketing consent for one channel was granted or withdrawn."""

    channel: ConsentChannel
    granted: bool


class OwnerAssigned(Payload):
    """One named person now handles this customer."""

    owner_id: Id
    owner_name: ShortText | None = None


class _AboutDuplicate(Payload):
    duplicate_customer_id: CustomerId


class AccountsMerged(_AboutDuplicate):
    """The subject survives; the duplicate's past and future events belong to it."""


class AccountsUnmerged(_AboutDuplicate):
    """A wrong merge undone: the duplicate is its own customer again."""


class AccountClosed(Payload):
    """The customer relationship ended."""

    reason: Text | None = None


class ErasureRequested(Payload):
    """The customer asked to be forgotten (GDPR right to erasure)."""

    requested_by: ShortText | None = None


class ContactLogged(Payload):
    """One conversation or message between the company and the customer."""

    channel: ContactChannel
    direction: Direction
    agent_id: Id | None = None
    subject: Text | None = None
    outcome: Outcome | None = None
    duration_seconds: Annotated[int, Field(ge=0, le=86_400)] | None = None


class OrderItem(Payload):
    sku: Id
    name: ShortText
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    unit_price: Money


class OrderPlaced(Payload):
    """The customer bought something."""

    order_id: Id
    amount: Money
    currency: Currency
    items: list[OrderItem] = Field(default_factory=list, max_length=500)
    channel: ShortText | None = None


class OrderCancelled(Payload):
    """An order was cancelled before fulfilment; it no longer counts as spend."""

    order_id: Id
    reason: Text | None = None


class OrderRefunded(Payload):
    """Money went back to the customer for (part of) an order."""

    order_id: Id
    amount: Money
    currency: Currency | None = None
    reason: Text | None = None


class _AboutComplaint(Payload):
    complaint_id: Id


class ComplaintOpened(_AboutComplaint):
    """The customer complained; the SLA clocks start."""

    priority: Priority
    category: ShortText | None = None
    channel: ContactChannel | None = None
    summary: Text | None = None


class ComplaintResponded(_AboutComplaint):
    """An agent gave the first (or a further) response."""

    agent_id: Id | None = None


class ComplaintEscalated(_AboutComplaint):
    """Escalated to a higher level; may raise the priority and tighten targets."""

    agent_id: Id | None = None
    priority: Priority | None = None
    reason: Text | None = None


class ComplaintResolved(_AboutComplaint):
    """The complaint was settled; the resolution clock stops."""

    agent_id: Id | None = None
    resolution: Text | None = None


class ComplaintReopened(_AboutComplaint):
    """The customer was not satisfied: a new resolution target runs from now."""

    reason: Text | None = None


class ComplaintPaused(_AboutComplaint):
    """Waiting on the customer: the resolution clock stops."""

    reason: Text | None = None


class ComplaintResumed(_AboutComplaint):
    """The customer answered: the resolution clock runs again."""


class SurveyAnswered(Payload):
    """A satisfaction survey answer: NPS (0-10), CSAT (1-5), or both."""

    survey_id: Id
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    comment: Text | None = None

    @model_validator(mode="after")
    def _has_a_score(self) -> SurveyAnswered:
        if self.nps is None and self.csat is None:
            raise ValueError("a survey answer needs nps or csat")
        return self
