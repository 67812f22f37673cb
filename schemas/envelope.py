"""The CloudEvents 1.0 envelope every upstream system wraps its events in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """A CloudEvent as this service requires it: ``subject`` is the customer id.

    Extension attributes are allowed (CloudEvents permits them) and ignored.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200, description="Unique event id: the idempotency key.")
    source: str = Field(min_length=1, max_length=500, description="The upstream system.")
    type: str = Field(min_length=1, max_length=100, examples=["crm.order.placed"])
    subject: str = Field(min_length=1, max_length=64, description="The customer id.")
    time: AwareDatetime = Field(description="When it happened, RFC 3339 with offset.")
    data: dict[str, Any]
    dataschema: str | None = None
    datacontenttype: str | None = None
