"""What the HTTP API answers, as pydantic models of the fields this client relies on.

Answers may carry more than is declared here (``extra="allow"``: a field the service adds
later is kept, readable as an attribute, and breaks nothing). The 360 document is large
and still growing, so only its identity is typed; the rest is in ``document``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Rejection(Answer):
    """An event ``POST /events`` refused: its place in what was sent, its id, and why."""

    index: int
    id: Any = None
    reason: str


class PublishResult(Answer):
    """Which events were published (by id) and which were refused; accepted ones are
    acknowledged by Kafka and will be stored, refused ones never."""

    accepted: list[str]
    rejected: list[Rejection]

    @property
    def ok(self) -> bool:
        """Every event was accepted."""
        return not self.rejected


class Owner(Answer):
    id: str
    name: str | None = None


class TimelineLink(Answer):
    rel: str
    order_id: str | None = None
    complaint_id: str | None = None


class TimelineEntry(Answer):
    event_id: str
    type: str
    time: datetime
    source: str
    channel: str | None = None
    summary: str
    data: dict[str, Any]
    position: int
    links: list[TimelineLink] = Field(default_factory=list)


class TimelinePage(Answer):
    customer_id: str = Field(description="The customer the id resolves to after merges.")
    merged_ids: list[str]
    as_of: datetime | None = None
    known_at: datetime | None = None
    entries: list[TimelineEntry]
    next_cursor: str | None = None


class Customer360(Answer):
    """The customer 360 view: typed identity; every section as the API sends it in
    ``document`` (and as attributes: ``view.orders``, ``view.loyalty``, ...)."""

    customer_id: str
    merged_ids: list[str] = Field(default_factory=list)
    resolved_from: str | None = Field(None, description="The id asked for, when it was "
                                      "merged into ``customer_id``.")
    known_at: datetime | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The whole view as the API answered it."""
        return self.model_dump(mode="json")


class QueueItem(Answer):
    kind: str = Field(description="complaint, follow_up or alert")
    due_at: datetime
    overdue: bool
    customer_id: str
    customer_name: str | None = None
    owner: Owner | None = None
    title: str
    deadline: str | None = None
    complaint_id: str | None = None
    task_id: str | None = None
    alert_id: str | None = None
    alert_kind: str | None = None


class Queue(Answer):
    agent: str | None = None
    generated_at: datetime
    items: list[QueueItem]


class Alert(Answer):
    alert_id: str
    kind: str
    customer_id: str
    status: str = Field(description="open or acknowledged")
    details: dict[str, Any] = Field(default_factory=dict)
    acknowledged_by: str | None = None
    owner: Owner | None = None


class Segment(Answer):
    name: str
    version: int
    rule: dict[str, Any] | None = None
    retired: bool = False
    description: str = ""
    members: int = 0
    built: bool = False


class SegmentMember(Answer):
    customer_id: str
    name: str | None = None
    entered_at: datetime
    version: int


class SegmentMembersPage(Answer):
    segment: str
    as_of: datetime | None = None
    members: list[SegmentMember]
    next_cursor: str | None = None
