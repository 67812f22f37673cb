"""The CloudEvents 1.0 envelope every upstream system wraps its events in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import CustomerId, JsonMediaType, Rfc3339


class CloudEvent(BaseModel):
    """A CloudEvent as this service requires it: ``subject`` is the customer id.

    Extension attributes (``traceparent``, a partner's own) are allowed, as
    CloudEvents permits, and dropped: nothing downstream reads them, and what is
    not kept cannot leak.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(
        min_length=1, max_length=200, description="Unique event id: the idempotency key."
    )
    source: str = Field(min_length=1, max_length=500, description="The upstream system.")
    type: str = Field(min_length=1, max_length=100, examples=["crm.order.placed"])
    subject: CustomerId = Field(description="The customer id.")
    time: Rfc3339 = Field(
        description="When it happened (not when it was sent), RFC 3339 with offset."
    )
    data: dict[str, Any]
    dataschema: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    datacontenttype: JsonMediaType | None = Field(
        default=None, description="Absent, or a JSON media type: data is always a JSON object."
    )
