"""The shapes the API answers, as the OpenAPI document states them.

Each model names the fields every answer of its operation carries, with their types;
the large documents built by the read side (a customer's 360, a report's rows, a
what-if comparison) are described to the level a client programs against, and
``extra="allow"`` keeps every further field as the read side writes it, so the JSON
stays what it was before these models existed. Moments are RFC 3339 text with offset.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: RFC 3339 text as the API writes it (``+00:00``), not parsed again on the way out.
Moment = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Open(BaseModel):
    """A document whose further fields are part of the answer as the read side writes them."""

    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(Open):
    status: Literal["ready", "not ready"]
    reasons: list[str] | None = Field(None, description="Why not ready (503 only).")


class AsyncApiDocument(Open):
    """The AsyncAPI 3 document of the Kafka side."""

    asyncapi: str = Field(examples=["3.0.0"])
    channels: dict[str, Any]


# customers -------------------------------------------------------------------


class CustomerSummary(Open):
    """A customer as search lists it (name and e-mail null once erased)."""

    customer_id: str


class CustomerSearch(BaseModel):
    customers: list[CustomerSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Loyalty(Open):
    customer_id: str
    as_of: Moment
    score: int
    tier: str


class Customer360(Open):
    """The customer's 360 (README "Customer 360" lists every part)."""

    customer_id: str = Field(description="The customer the id resolves to after merges.")
    as_of: Moment
    profile: dict[str, Any]
    status: str | None
    owner: dict[str, Any] | None
    consents: dict[str, Any]
    orders: dict[str, Any]
    complaints: dict[str, Any]
    contacts: dict[str, Any]
    satisfaction: dict[str, Any]
    loyalty: dict[str, Any]
    flags: dict[str, Any]
    merged_ids: list[str]
    known_at: Moment | None
    churn: dict[str, Any] | None
    anomalies: list[dict[str, Any]]
    follow_ups: list[dict[str, Any]]
    resolved_from: str | None = Field(None, description="The id asked for, when it was "
                                      "merged into another customer.")


class DuplicateCandidate(Open):
    customer_id: str
    score: float


class DuplicateCandidates(BaseModel):
    customer_id: str
    candidates: list[DuplicateCandidate]


class MergePreview(BaseModel):
    survivor_id: str
    duplicate_id: str
    after: dict[str, Any] = Field(description="The survivor's 360 after the merge.")
    changes: dict[str, dict[str, Any]] = Field(description="Figures before and after.")
    conflicts: list[dict[str, Any]] = Field(description="What a person should settle.")


class Recommendations(BaseModel):
    customer_id: str
    bought: list[str]
    recommendations: list[dict[str, Any]]


# alerts ----------------------------------------------------------------------


class Alert(Open):
    alert_id: str
    kind: str
    customer_id: str
    status: Literal["open", "acknowledged"]
    details: dict[str, Any]
    acknowledged_by: str | None
    owner: dict[str, Any] | None = Field(description="The customer's owner now.")


class Alerts(BaseModel):
    alerts: list[Alert]


# reports ---------------------------------------------------------------------


class ReportState(Open):
    name: str
    kind: str
    title: str
    live_generation: int | None
    caught_up: bool
    by_month: bool
    served_by: list[dict[str, Any]]


class Reports(BaseModel):
    reports: list[ReportState]
    processes: list[dict[str, Any]]


class Report(BaseModel):
    name: str
    title: str
    columns: list[str]
    since: str | None
    until: str | None
    rows: list[dict[str, Any]]


class Rebuild(Open):
    """A rebuild's progress (``projections/replay.py``)."""

    name: str
    state: str


# segments --------------------------------------------------------------------


class SegmentVersion(Open):
    name: str
    version: int
    rule: dict[str, Any] | None
    retired: bool
    description: str
    defined_by: str
    defined_at: Moment


class SegmentState(SegmentVersion):
    members: int
    built: bool
    in_progress: dict[str, Any] | None


class Segments(BaseModel):
    segments: list[SegmentState]


class SegmentField(BaseModel):
    kind: str
    description: str
    timed: bool


class SegmentFields(BaseModel):
    operators: list[str]
    fields: dict[str, SegmentField]


class SegmentHistory(BaseModel):
    name: str
    versions: list[SegmentVersion]


class SegmentMember(Open):
    customer_id: str
    entered_at: Moment
    version: int


class SegmentMembers(BaseModel):
    segment: str
    as_of: Moment | None
    members: list[SegmentMember]
    next_cursor: str | None


class SegmentCount(BaseModel):
    at: Moment
    members: int


class SegmentCounts(BaseModel):
    segment: str
    counts: list[SegmentCount]


# ingestion and privacy -------------------------------------------------------


class RejectedEvent(BaseModel):
    index: int = Field(description="Its place in the request (0 for a single event).")
    id: Any = Field(description="Its `id`, as sent (null if it had none).")
    reason: str


class Published(BaseModel):
    accepted: list[str] = Field(description="Ids of the events published.")
    rejected: list[RejectedEvent]


class ErasureAccepted(BaseModel):
    customer_ids: list[str]
    event_ids: list[str]


class WhatIf(Open):
    """The candidate book compared with the running one (``projections/sla_whatif.py``)."""

    window: dict[str, Moment | None]
