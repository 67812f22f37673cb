"""Stored domain events: the business facts upstream systems report about a customer.

Upstream systems (web shop, telephony, ticketing, billing) decide; this service
remembers. So the stored events are not decisions of an aggregate but facts
*recorded* into the customer's stream, one class per version-1 wire type, so that
read models can subscribe to just the facts they need by topic.

The wire contract (CloudEvents, ``schemas/``) is kept apart from these classes:
``data`` holds the payload as the schema validated it, JSON-ready (decimals as
strings), and each class names the wire type it records.

They are plain frozen dataclasses: the event store's mapper needs only their
attributes (``originator_id``, ``originator_version``) and their topic, which is
this module and the class name, so the module must not move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

_CUSTOMER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:crm-timeline:customer")


@lru_cache(maxsize=1 << 17)  # uuid5 hashes; the same customers come again and again
def customer_stream_id(customer_id: str) -> UUID:
    """The store's stream id of a customer: stable, derived from the upstream customer id."""
    return uuid5(_CUSTOMER_NAMESPACE, customer_id)


@dataclass(frozen=True)
class CustomerFact:
    """Something an upstream system reported about one customer.

    ``occurred_at`` is when it happened (the CloudEvent ``time``); ``timestamp`` is
    when this service recorded it. Read models order by the former. The stream is
    the customer's (``customer_stream_id``), ``originator_version`` its place in it.

    ``extensions`` are the CloudEvent's extension attributes as sent (``traceparent``,
    a partner's own), ``schema_id`` the schema registry's id the message was framed
    with. Both are stored only when there are any, and default at the class level, so
    facts stored before they existed read as None (the mapper fills ``__dict__``).
    """

    wire_type: ClassVar[str] = ""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    event_id: str
    source: str
    customer_id: str
    occurred_at: datetime
    data: dict[str, Any]
    extensions: dict[str, str | int | bool] | None = None
    schema_id: int | None = None

    @property
    def event_type(self) -> str:
        return self.wire_type

    @staticmethod
    def create_timestamp() -> datetime:
        return datetime.now(UTC)


class AccountOpened(CustomerFact):
    wire_type = "crm.account.opened"


class AccountUpdated(CustomerFact):
    wire_type = "crm.account.updated"


class ConsentChanged(CustomerFact):
    wire_type = "crm.account.consent_changed"


class OwnerAssigned(CustomerFact):
    wire_type = "crm.account.owner_assigned"


class AccountsMerged(CustomerFact):
    wire_type = "crm.account.merged"


class AccountsUnmerged(CustomerFact):
    wire_type = "crm.account.unmerged"


class AccountClosed(CustomerFact):
    wire_type = "crm.account.closed"


class ErasureRequested(CustomerFact):
    wire_type = "crm.account.erasure_requested"


class ContactLogged(CustomerFact):
    wire_type = "crm.contact.logged"


class OrderPlaced(CustomerFact):
    wire_type = "crm.order.placed"


class OrderCancelled(CustomerFact):
    wire_type = "crm.order.cancelled"


class OrderRefunded(CustomerFact):
    wire_type = "crm.order.refunded"


class ComplaintOpened(CustomerFact):
    wire_type = "crm.complaint.opened"


class ComplaintResponded(CustomerFact):
    wire_type = "crm.complaint.responded"


class ComplaintEscalated(CustomerFact):
    wire_type = "crm.complaint.escalated"


class ComplaintResolved(CustomerFact):
    wire_type = "crm.complaint.resolved"


class ComplaintReopened(CustomerFact):
    wire_type = "crm.complaint.reopened"


class ComplaintPaused(CustomerFact):
    wire_type = "crm.complaint.paused"


class ComplaintResumed(CustomerFact):
    wire_type = "crm.complaint.resumed"


class SurveyAnswered(CustomerFact):
    wire_type = "crm.survey.answered"


FACT_CLASSES: dict[str, type[CustomerFact]] = {
    cls.wire_type: cls for cls in CustomerFact.__subclasses__()
}


def stored_topic(wire_type: str) -> str:
    """The store's topic of a fact type: reading by it skips other types before decoding."""
    cls = FACT_CLASSES[wire_type]
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class ReportedFact:
    """A validated upstream event, not yet recorded: the input of the customer history."""

    event_id: str
    event_type: str
    source: str
    customer_id: str
    occurred_at: datetime
    data: dict[str, Any]
    extensions: Mapping[str, str | int | bool] | None = None
    schema_id: int | None = None

    def __post_init__(self) -> None:
        if self.event_type not in FACT_CLASSES:
            raise ValueError(f"no stored fact for event type {self.event_type!r}")
