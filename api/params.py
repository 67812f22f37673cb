"""Parameter types the routes share: customer ids in paths, times in queries, lines of text
in bodies. Each refuses what the read side cannot handle with 422 and a reason, never 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema

from schemas.fields import EARLIEST_TIME
from schemas.text import SINGLE_LINE_PATTERN, nfc, text_problem

#: Times read from queries (``as_of``, ``since``, ``until``) lie in this range: events are
#: not older than 1900 (``schemas.fields``), and the read side adds and subtracts a year
#: or so, which overflows near year 1 and year 9999.
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


#: The document's pattern of a query time: RFC 3339 text whose year, as written, lies in
#: 1900-8999 (with ``format: date-time``), so what the document allows is what is read.
TIME_PATTERN = r"^(19|[2-8][0-9])[0-9]{2}-"


def _text(value: object) -> object:
    """Only RFC 3339 text: pydantic would also read a number as a Unix time."""
    if not isinstance(value, str) or not re.match(TIME_PATTERN, value):
        raise ValueError(f"must be an RFC 3339 time with offset between "
                         f"{EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}"
                         f" (a year from 1900 to 8999)")
    return value


def _in_range(value: datetime) -> datetime:
    # The year as written: an offset near the ends (1900-01-01T00:00+14:00) stays readable,
    # the read side's year or so of arithmetic only overflows near year 1 and year 9999.
    if not EARLIEST_TIME.year <= value.year < LATEST_TIME.year:
        raise ValueError(f"must lie between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and "
                         f"{LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}")
    return value


#: An RFC 3339 time with its offset, between 1900 and 9000.
QueryTime = Annotated[AwareDatetime, BeforeValidator(_text), AfterValidator(_in_range),
                      WithJsonSchema({"type": "string", "format": "date-time",
                                      "pattern": TIME_PATTERN})]


def _one_line(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(f"must be one line of text without control characters: it {problem}")
    return value


#: One line of text in a JSON body: no control character, no lone surrogate.
OneLine = Annotated[str, AfterValidator(_one_line),
                    Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})]

#: A customer id in a path, ``/`` included: routes declare it ``{customer_id:path}``
#: (Starlette decodes ``%2F`` before routing, so an encoded slash arrives as ``/``).
#: Compared in Unicode NFC, as the store keeps ids.
CustomerId = Annotated[str, Path(min_length=1, max_length=64), BeforeValidator(nfc)]
