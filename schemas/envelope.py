"""The CloudEvents 1.0 envelope every upstream system wraps its events in."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import CustomerId, JsonMediaType, Rfc3339
from schemas.text import SINGLE_LINE_PATTERN, printable, text_problem


def _line(n: int) -> Any:
    """One line of at most ``n`` characters."""
    return StringConstraints(min_length=1, max_length=n, pattern=SINGLE_LINE_PATTERN)


#: CloudEvents' rule for attribute names (lower-case ASCII letters and digits).
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
MAX_EXTENSION_VALUE = 2000


class CloudEvent(BaseModel):
    """A CloudEvent as this service requires it: ``subject`` is the customer id.

    Extension attributes (``traceparent``, a partner's own) are allowed, as
    CloudEvents permits, checked (``extension_problem``) and dropped: nothing
    downstream reads them, and what is not kept cannot leak.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, _line(200)] = Field(
        description="Unique event id: the idempotency key (compared in Unicode NFC)."
    )
    source: Annotated[str, _line(500)] = Field(description="The upstream system.")
    type: Annotated[str, _line(100)] = Field(examples=["crm.order.placed"])
    subject: CustomerId = Field(description="The customer id (compared in Unicode NFC).")
    time: Rfc3339 = Field(
        description="When it happened (not when it was sent), RFC 3339 with offset."
    )
    data: dict[str, Any]
    dataschema: Annotated[str, _line(500)] | None = None
    datacontenttype: JsonMediaType | None = Field(
        default=None, description="Absent, or a JSON media type: data is always a JSON object."
    )


_ATTRIBUTES = frozenset(CloudEvent.model_fields)


def extension_problem(raw: dict[str, Any]) -> str | None:
    """Why an extension attribute breaks CloudEvents' rules (None: none does): names
    are lower-case ASCII letters and digits; values are strings (one line, at most
    ``MAX_EXTENSION_VALUE`` characters), integers or booleans."""
    if raw.keys() <= _ATTRIBUTES:
        return None
    for name, value in raw.items():
        if name in _ATTRIBUTES:
            continue
        shown = printable(name, 40)
        if not _EXTENSION_NAME.fullmatch(name):
            return (f"attribute {shown!r}: CloudEvents attribute names are lower-case letters "
                    "a-z and digits 0-9")
        if value is None or isinstance(value, bool | int):
            continue
        if not isinstance(value, str):
            return f"{shown}: an extension attribute must be a string, an integer or a boolean"
        if len(value) > MAX_EXTENSION_VALUE:
            return f"{shown}: must have at most {MAX_EXTENSION_VALUE} characters"
        if problem := text_problem(value):
            return f"{shown}: {problem}"
    return None
