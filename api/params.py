"""Parameter types the routes share: customer ids in paths, times in queries, lines of text
in bodies. Each refuses what the read side cannot handle with 422 and a reason, never 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from schemas.fields import EARLIEST_TIME
from schemas.text import nfc, text_problem

#: Times read from queries (``as_of``, ``since``, ``until``) lie in this range: events are
#: not older than 1900 (``schemas.fields``), and the read side adds and subtracts a year
#: or so, which overflows near year 1 and year 9999.
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise ValueError(f"must lie between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and "
                         f"{LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}")
    return value


#: An RFC 3339 time with its offset, between 1900 and 9000.
QueryTime = Annotated[AwareDatetime, AfterValidator(_in_range)]


def _one_line(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(f"must be one line of text without control characters: it {problem}")
    return value


#: One line of text in a JSON body: no control character, no lone surrogate.
OneLine = Annotated[str, AfterValidator(_one_line)]

#: A customer id in a path, ``/`` included: routes declare it ``{customer_id:path}``
#: (Starlette decodes ``%2F`` before routing, so an encoded slash arrives as ``/``).
#: Compared in Unicode NFC, as the store keeps ids.
CustomerId = Annotated[str, Path(min_length=1, max_length=64), BeforeValidator(nfc)]
