"""Field types shared by the envelope and every payload, each checked the same way
by the service and by the published JSON Schema.

Patterns spell digits and letters as ``[0-9]`` and ``[A-Z]``: ``\\d`` matches
any Unicode digit in Python and in pydantic's regex engine, but only ASCII in
the JSON Schema (ECMA-262) dialect, and the two must agree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from schemas.text import FREE_TEXT_PATTERN, SINGLE_LINE_PATTERN

#: One line, no whitespace at either end (and, like all text, no control characters).
CUSTOMER_ID_PATTERN = r"^[^\s\x00-\x1f]([^\x00-\x1f]*[^\s\x00-\x1f])?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Z]{2})?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
JSON_MEDIA_TYPE_PATTERN = r"^application/([a-z0-9.+-]+\+)?json(;.*)?$"
MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_LOCAL_DATE_TIME = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
)
RFC3339_PATTERN = rf"^{_LOCAL_DATE_TIME}([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"

#: What a pattern means, for the reasons people read in the dead-letter topic.
PATTERN_HINTS: dict[str, str] = {
    CUSTOMER_ID_PATTERN: "must be one line that does not start or end with whitespace",
    SINGLE_LINE_PATTERN: "must be one line: no tab, newline or other control character",
    FREE_TEXT_PATTERN: "must not contain control characters other than tab and newline",
    CURRENCY_PATTERN: "must be an ISO 4217 currency code such as 'EUR'",
    COUNTRY_PATTERN: "must be an ISO 3166-1 alpha-2 country code such as 'DE'",
    LANGUAGE_PATTERN: "must be a language tag such as 'de' or 'de-AT'",
    EMAIL_PATTERN: "must be an e-mail address such as 'name@example.com'",
    JSON_MEDIA_TYPE_PATTERN: "must be a JSON media type such as 'application/json'",
}


_MONEY = re.compile(MONEY_PATTERN)
_RFC3339 = re.compile(RFC3339_PATTERN)


def _money(value: Any) -> Decimal:
    """Amounts travel as decimal strings: a JSON number would pass through binary floating point."""
    if isinstance(value, Decimal) and value.is_finite():
        value = f"{value:f}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be a decimal string such as '129.90', not a JSON number")
    if not isinstance(value, str):
        raise ValueError("must be a decimal string such as '129.90'")
    if _MONEY.fullmatch(value):  # the common case first; the rest explains what is wrong
        return Decimal(value)
    if re.fullmatch(r"-[0-9]+(\.[0-9]+)?", value):
        raise ValueError("must be >= 0")
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", value):
        raise ValueError("must have at most 2 decimal places")
    if re.fullmatch(r"[0-9]{13,}(\.[0-9]+)?", value):
        raise ValueError("must have at most 12 digits before the point")
    raise ValueError("must be a decimal string such as '129.90'")


#: The earliest event time accepted (``schemas.validation.parse_event`` checks it): older
#: times are typos or placeholders (0001-01-01), and date arithmetic near year 1 overflows.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)


def _rfc3339(value: Any) -> Any:
    """``time`` must carry its UTC offset: a naive time is ambiguous by up to a day."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string such as '2026-11-20T14:05:00+01:00'")
    if _RFC3339.fullmatch(value):
        return value
    if re.fullmatch(_LOCAL_DATE_TIME, value):
        raise ValueError("has no UTC offset; add 'Z' or one such as '+01:00' (RFC 3339)")
    raise ValueError("must be an RFC 3339 date-time such as '2026-11-20T14:05:00+01:00'")


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema(
        {"type": "string", "pattern": MONEY_PATTERN, "examples": ["129.90"],
         "description": "Decimal string, at most 2 decimal places, never negative."}
    ),
]
Rfc3339 = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN,
                    "description": "RFC 3339 with offset, not before 1900."}),
]
#: Ids are compared in Unicode NFC (events are normalised before validation,
#: ``schemas.validation.parse_event``); lengths count NFC characters.
CustomerId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=CUSTOMER_ID_PATTERN)
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SINGLE_LINE_PATTERN)]
#: One line of text: a name, a category, an attribute value.
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=SINGLE_LINE_PATTERN)]
#: Free text (summaries, comments, reasons, addresses): tab and newline allowed.
Text = Annotated[str, StringConstraints(max_length=2000, pattern=FREE_TEXT_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN)]
Country = Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=SINGLE_LINE_PATTERN)]
JsonMediaType = Annotated[str, StringConstraints(pattern=JSON_MEDIA_TYPE_PATTERN)]
#: JSON integers and booleans only: "245" or "yes" pass pydantic's lax mode, not the schema.
StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]

#: Marks a payload field as the customer's personal data (SPEC §5): the service
#: stores it sealed under the customer's own key, and erasure destroys that key.
#: Published as ``"x-personal": true`` so upstream teams see which fields are personal.
PERSONAL = Field(json_schema_extra={"x-personal": True})
