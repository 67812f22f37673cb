"""Version-1 payloads (the CloudEvent ``data``) of every CRM event type, SPEC §2.

One section per topic family: accounts, contacts, orders, complaints, surveys.
Field types (amounts, currencies, e-mail addresses) live in ``schemas.fields``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from schemas.fields import (
    PERSONAL,
    Country,
    Currency,
    CustomerId,
    Email,
    Id,
    Language,
    Money,
    Phone,
    Rfc3339,
    ShortText,
    StrictBool,
    StrictInt,
    Text,
)


class Payload(BaseModel):
    """Base of every payload.

    Unknown fields are rejected (``extra="forbid"``): a typo or an unannounced
    field, possibly personal data, surfaces in the dead-letter topic at once
    instead of being stored unnoticed; new fields arrive with a new schema version.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- vocabularies -------------------------------------------------------------------------


class ContactChannel(StrEnum):
    """How the company and the customer talked."""

    phone = "phone"
    email = "email"
    visit = "visit"
    chat = "chat"
    sms = "sms"
    social = "social"
    video = "video"
    letter = "letter"


class ConsentChannel(StrEnum):
    """A channel marketing may use only with the customer's consent."""

    email = "email"
    sms = "sms"
    phone = "phone"
    post = "post"


class Direction(StrEnum):
    """Who started the contact: outbound ones count towards contact fatigue and need consent."""

    inbound = "inbound"
    outbound = "outbound"


class Outcome(StrEnum):
    """How a contact ended."""

    resolved = "resolved"
    follow_up = "follow_up"
    no_answer = "no_answer"
    escalated = "escalated"
    sale = "sale"
    other = "other"


class Priority(StrEnum):
    """A complaint's priority: it sets the SLA targets."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


# --- crm.account.* ------------------------------------------------------------------------


class ActorKind(StrEnum):
    """Who made an account change."""

    customer = "customer"  # the customer, through self-service
    agent = "agent"  # a colleague, on the customer's behalf
    system = "system"  # an import, a rule, a batch job


class Actor(Payload):
    """Who made an account change, so an agent can tell the customer's own update from a
    colleague's."""

    kind: ActorKind
    id: Id | None = Field(default=None, description="The agent's or system's id; absent for "
                          "the customer (the subject is the customer).")


class _AccountChange(Payload):
    actor: Actor | None = Field(default=None, description="Who made the change; absent: "
                                "not said by the source.")


class AccountOpened(Payload):
    """A new customer account: who they are and how they found us."""

    name: Annotated[ShortText, PERSONAL]
    email: Annotated[Email | None, PERSONAL] = None
    phone: Annotated[Phone | None, PERSONAL] = None
    address: Annotated[Text | None, PERSONAL] = None
    country: Country | None = None
    segment: ShortText | None = Field(default=None, examples=["consumer", "business", "vip"])
    language: Language | None = None
    acquisition_channel: ShortText | None = Field(
        default=None,
        description="How the customer heard of us.",
        examples=["search", "social", "referral", "partner", "store"],
    )


#: The reasons of the cross-field rules, also the ``description`` of each rule in the
#: published JSON Schema, so that a client generated from it refuses in the same words.
_NAMES_A_FIELD = "must name at least one profile field"


class ProfileChanges(Payload):
    """Profile fields set to a new value; null clears a field, an absent field stays as it was."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"description": _NAMES_A_FIELD, "minProperties": 1}]})

    name: Annotated[ShortText | None, PERSONAL] = None
    email: Annotated[Email | None, PERSONAL] = None
    phone: Annotated[Phone | None, PERSONAL] = None
    address: Annotated[Text | None, PERSONAL] = None
    country: Country | None = None
    segment: ShortText | None = None
    language: Language | None = None

    @model_validator(mode="after")
    def _names_a_field(self) -> ProfileChanges:
        if not self.model_fields_set:
            raise ValueError(_NAMES_A_FIELD)
        return self

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Absent and null differ here, so only the fields sent are written back."""
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class AccountUpdated(_AccountChange):
    """The customer (self-service) or an agent changed profile fields."""

    changes: ProfileChanges


class ConsentChanged(_AccountChange):
    """Marketing consent for one channel was granted or withdrawn."""

    channel: ConsentChannel
    granted: StrictBool


class OwnerAssigned(_AccountChange):
    """One named person (an account manager) now handles this customer."""

    owner_id: Id
    owner_name: ShortText | None = None


class _AboutDuplicate(Payload):
    duplicate_customer_id: CustomerId = Field(
        description="The other customer id; never the subject itself."
    )


class AccountsMerged(_AboutDuplicate):
    """The subject survives; the duplicate's past and future events belong to it."""


class AccountsUnmerged(_AboutDuplicate):
    """A wrong merge undone: the duplicate is its own customer again."""


class AccountClosed(_AccountChange):
    """The customer relationship ended; the history stays."""

    reason: Annotated[Text | None, PERSONAL] = None


class ErasureRequested(Payload):
    """The customer asked to be forgotten (GDPR right to erasure): personal data must go."""

    requested_by: ShortText | None = Field(
        default=None, examples=["customer via privacy portal", "A-007 on the customer's call"]
    )


# --- crm.contact.* ------------------------------------------------------------------------


def _only_with(field: str, needs: str, value: str, reason: str) -> dict[str, Any]:
    """JSON Schema for "``field``, when given and not null, needs ``needs`` = ``value``"."""
    return {"description": reason,
            "if": {"required": [field], "properties": {field: {"not": {"type": "null"}}}},
            "then": {"required": [needs], "properties": {needs: {"const": value}}}}


_FOLLOW_UP_NEEDS_OUTCOME = "follow_up_at needs outcome 'follow_up'"
_SOCIAL_ONLY = "platform and handle belong to the 'social' channel"


class ContactLogged(Payload):
    """One conversation or message between the company and the customer."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        _only_with("follow_up_at", "outcome", "follow_up", _FOLLOW_UP_NEEDS_OUTCOME),
        _only_with("platform", "channel", "social", _SOCIAL_ONLY),
        _only_with("handle", "channel", "social", _SOCIAL_ONLY),
    ]})

    channel: ContactChannel
    direction: Direction
    agent_id: Id | None = Field(default=None, description="Absent for self-service and bots.")
    subject: Annotated[Text | None, PERSONAL] = Field(
        default=None, description="What it was about (free text)."
    )
    outcome: Outcome | None = None
    duration_seconds: Annotated[StrictInt, Field(ge=0, le=86_400)] | None = Field(
        default=None, description="Talk time of calls, visits and chats; absent for messages."
    )
    follow_up_at: Rfc3339 | None = Field(
        default=None, description="With outcome `follow_up`: when the follow-up is due "
        "(absent: CRM_FOLLOW_UP_HOURS after the contact).")
    platform: ShortText | None = Field(
        default=None, description="On the `social` channel: the network.",
        examples=["instagram", "x", "facebook", "linkedin", "tiktok"])
    handle: Annotated[ShortText | None, PERSONAL] = Field(
        default=None, description="On the `social` channel: the customer's name there.",
        examples=["@ada_l"])

    @model_validator(mode="after")
    def _fits_the_channel(self) -> ContactLogged:
        if self.follow_up_at is not None and self.outcome is not Outcome.follow_up:
            raise ValueError(_FOLLOW_UP_NEEDS_OUTCOME)
        if (self.platform or self.handle) and self.channel is not ContactChannel.social:
            raise ValueError(_SOCIAL_ONLY)
        return self


# --- crm.order.* --------------------------------------------------------------------------


class OrderItem(Payload):
    """One line of an order."""

    sku: Id
    name: ShortText
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    unit_price: Money


class OrderPlaced(Payload):
    """The customer bought something.

    ``amount`` is what the customer pays; it is not checked against the items,
    because shipping, discounts and vouchers are the shop's business.
    """

    order_id: Id
    amount: Money
    currency: Currency
    items: list[OrderItem] = Field(
        default_factory=list,
        max_length=500,
        description="Empty when the source knows only the total.",
    )
    channel: ShortText | None = Field(
        default=None, description="Where it was bought.", examples=["web", "app", "store", "phone"]
    )


class OrderCancelled(Payload):
    """An order was cancelled before fulfilment; it no longer counts as spend."""

    order_id: Id
    reason: Annotated[Text | None, PERSONAL] = None


class OrderRefunded(Payload):
    """Money went back to the customer for (part of) an order."""

    order_id: Id
    amount: Money
    currency: Currency | None = Field(default=None, description="Absent: the order's currency.")
    reason: Annotated[Text | None, PERSONAL] = None


# --- crm.complaint.* ----------------------------------------------------------------------


class _AboutComplaint(Payload):
    complaint_id: Id


class ComplaintOpened(_AboutComplaint):
    """The customer complained; the SLA clocks start."""

    priority: Priority
    category: ShortText | None = Field(default=None, examples=["delivery", "billing", "product"])
    channel: ContactChannel | None = None
    summary: Annotated[Text | None, PERSONAL] = None
    order_id: Id | None = Field(default=None, description="The order it is about, if any.")
    sku: Id | None = Field(default=None, description="The product it is about, if any.")


class ComplaintResponded(_AboutComplaint):
    """An agent gave the first (or a further) response; the first stops the response clock."""

    agent_id: Id | None = None


class ComplaintEscalated(_AboutComplaint):
    """Escalated to a higher level; may raise the priority and tighten targets."""

    agent_id: Id | None = None
    priority: Priority | None = Field(default=None, description="The new priority, if it changed.")
    reason: Annotated[Text | None, PERSONAL] = None


class ComplaintResolved(_AboutComplaint):
    """The complaint was settled; the resolution clock stops."""

    agent_id: Id | None = None
    resolution: Annotated[Text | None, PERSONAL] = None


class ComplaintReopened(_AboutComplaint):
    """The customer was not satisfied: a new resolution target runs from now."""

    agent_id: Id | None = None
    reason: Annotated[Text | None, PERSONAL] = None


class ComplaintPaused(_AboutComplaint):
    """Waiting on the customer: the resolution clock stops until the complaint resumes."""

    reason: Annotated[ShortText, PERSONAL] = Field(description="What the customer was asked for.")


class ComplaintResumed(_AboutComplaint):
    """The customer answered: the resolution clock runs again."""


# --- crm.survey.* -------------------------------------------------------------------------

_NEEDS_A_SCORE = "a survey answer needs nps or csat"
#: JSON Schema for "nps or csat, at least one": pydantic cannot derive it from the validator.
_A_SCORE: dict[str, Any] = {"allOf": [{
    "description": _NEEDS_A_SCORE,
    "anyOf": [
        {"required": ["nps"], "properties": {"nps": {"type": "integer"}}},
        {"required": ["csat"], "properties": {"csat": {"type": "integer"}}},
    ],
}]}


class SurveyAnswered(Payload):
    """A satisfaction survey answer: NPS (0-10), CSAT (1-5), or both."""

    model_config = ConfigDict(json_schema_extra=_A_SCORE)

    survey_id: Id
    nps: Annotated[StrictInt, Field(ge=0, le=10)] | None = None
    csat: Annotated[StrictInt, Field(ge=1, le=5)] | None = None
    comment: Annotated[Text | None, PERSONAL] = None
    contact_event_id: Id | None = Field(
        default=None, description="The event id of the contact this answer rates, so the score "
        "counts for the agent and channel that served the customer.")
    complaint_id: Id | None = Field(default=None, description="The complaint this answer rates.")

    @model_validator(mode="after")
    def _has_a_score(self) -> SurveyAnswered:
        if self.nps is None and self.csat is None:
            raise ValueError(_NEEDS_A_SCORE)
        return self
