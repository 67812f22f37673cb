"""The CloudEvents 1.0 envelope every upstream system wraps its events in."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.fields import CustomerId, JsonMediaType, Rfc3339
from schemas.refusals import EXTENSION, HOSTILE_TEXT, TOO_LARGE, InvalidEvent
from schemas.text import SINGLE_LINE_PATTERN, printable, text_problem


def _line(n: int) -> Any:
    """One line of at most ``n`` characters."""
    return StringConstraints(min_length=1, max_length=n, pattern=SINGLE_LINE_PATTERN)


#: CloudEvents' rule for attribute names (lower-case ASCII letters and digits), at most
#: the 20 characters the specification asks senders to keep to.
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_NAME_CHARACTERS = re.compile(r"[a-z0-9]+")
#: Limits on what an event may carry beside its payload: the extensions are stored with
#: every fact and shown on the timeline, so a sender cannot make them its second payload.
MAX_EXTENSION_VALUE = 2000
MAX_EXTENSIONS = 16
MAX_EXTENSIONS_CHARS = 4000
#: CloudEvents' Integer is a signed 32-bit number.
_INTEGER = range(-(2 ** 31), 2 ** 31)

Extensions = dict[str, str | int | bool]


class CloudEvent(BaseModel):
    """A CloudEvent as this service requires it: ``subject`` is the customer id.

    Extension attributes (``traceparent``, a partner's own) are allowed, as
    CloudEvents permits; ``read_extensions`` checks them and the fact keeps them
    (``ValidEvent.extensions``), so a trace can be followed from the sender's span
    to the customer's timeline.
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


def read_extensions(raw: dict[str, Any]) -> Extensions:
    """The extension attributes of a decoded event (those beyond the core and optional
    ones), checked against CloudEvents' rules and this service's limits; null ones are
    absent, as in CloudEvents' JSON format. Names are 1-20 lower-case ASCII letters and
    digits; values strings (one line, at most ``MAX_EXTENSION_VALUE`` characters),
    32-bit integers or booleans; at most ``MAX_EXTENSIONS`` of them, of at most
    ``MAX_EXTENSIONS_CHARS`` characters of names and values together. InvalidEvent
    says which rule an attribute broke."""
    if raw.keys() <= _ATTRIBUTES:
        return {}
    found: Extensions = {}
    size = 0
    for name, value in raw.items():
        if name in _ATTRIBUTES:
            continue
        shown = printable(name, 40)
        if not _EXTENSION_NAME.fullmatch(name):
            rule = ("at most 20 characters long" if _NAME_CHARACTERS.fullmatch(name)
                    else "lower-case letters a-z and digits 0-9")
            raise InvalidEvent(f"attribute {shown!r}: CloudEvents attribute names are {rule}",
                               EXTENSION)
        if value is None:
            continue
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if value not in _INTEGER:
                raise InvalidEvent(f"{shown}: an integer extension attribute must fit in 32 "
                                   f"bits (got {printable(str(value), 40)})", EXTENSION)
        elif not isinstance(value, str):
            raise InvalidEvent(f"{shown}: an extension attribute must be a string, an "
                               "integer or a boolean", EXTENSION)
        elif len(value) > MAX_EXTENSION_VALUE:
            raise InvalidEvent(f"{shown}: must have at most {MAX_EXTENSION_VALUE} characters",
                               TOO_LARGE)
        elif problem := text_problem(value):
            raise InvalidEvent(f"{shown}: {problem}", HOSTILE_TEXT)
        found[name] = value
        size += len(name) + (len(value) if isinstance(value, str) else 8)
        if len(found) > MAX_EXTENSIONS:
            raise InvalidEvent(f"at most {MAX_EXTENSIONS} extension attributes are kept "
                               f"with an event (got more)", TOO_LARGE)
        if size > MAX_EXTENSIONS_CHARS:
            raise InvalidEvent(f"extension attributes: at most {MAX_EXTENSIONS_CHARS} "
                               f"characters of names and values together (got more)", TOO_LARGE)
    return found
