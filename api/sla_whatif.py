"""``POST /admin/sla/what-if``: what a candidate SLA policy book would have judged (admin).

The body is the candidate book's TOML, as ``CRM_SLA_POLICY_FILE`` holds it; the answer
compares it with this process's book (``projections/sla_whatif.py``). A preview:
nothing is written, no alert raised, nothing published. The whole history of
complaints is read for each request, so it is for operators, not for every page view.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from api.access import requires
from api.deps import ReadSide, read_side
from api.models import WhatIf
from domain.sla_policy import PolicyBook
from domain.sla_whatif import OpeningWindow, moment_or_day
from projections.sla_whatif import sla_what_if

router = APIRouter(tags=["sla"])

#: The candidate book's text as a policy book; ``ValueError`` saying where and why (set by
#: the composition root: the TOML format belongs to the service's configuration).
PolicyParser = Callable[[str], PolicyBook]

_TOML_TYPES = ("text/plain", "application/toml")
_TOML_BODY = {"schema": {"type": "string"},
              "example": '[[policies]]\nversion = "2026-tighter-urgent"\n'
                         "effective_from = 2020-01-01T00:00:00Z\n\n[policies.targets]\n"
                         "urgent = { first_response = 0.5, resolution = 4 }\n"}
_DAY_OR_MOMENT = "a day (YYYY-MM-DD, UTC) or an RFC 3339 moment"
#: A day or moment of the years 1900-8999, as the document states it (a pattern cannot
#: know February's length: 2026-02-30 passes it and is refused with 422).
_DAY_OR_MOMENT_PATTERN = (r"^(19|[2-8][0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                          r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
                          r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$")


async def candidate_text(request: Request) -> str:
    """The body as text, if it is sent as TOML or plain text (415 otherwise)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _TOML_TYPES:
        raise HTTPException(415, "send the candidate policy book as text/plain or "
                                 f"application/toml, not {media_type or 'no content type'}")
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the candidate policy book is not UTF-8 text") from None


def _moment(name: str, text: str | None, *, end_of_day: bool = False) -> datetime | None:
    try:
        return moment_or_day(text, end_of_day=end_of_day) if text else None
    except ValueError as error:
        raise HTTPException(422, f"{name}: {error}") from None


@router.post(
    "/admin/sla/what-if",
    operation_id="previewSlaPolicy",
    response_model=WhatIf,
    dependencies=[Depends(requires("admin"))],
    # text/plain only in the document (application/toml is read alike): a client library
    # knows how to send text, and few know the TOML media type.
    openapi_extra={"requestBody": {"required": True, "description": "The candidate book's "
                                   "TOML, as text/plain (or application/toml).",
                                   "content": {"text/plain": _TOML_BODY}}},
    responses={400: {"description": "The candidate book is not usable: where and why"},
               415: {"description": "The body is not text/plain or application/toml"}},
)
def sla_what_if_report(
    request: Request,
    text: Annotated[str, Depends(candidate_text)],
    since: Annotated[str | None, Query(description=f"complaints opened from: {_DAY_OR_MOMENT}",
                                       max_length=40, pattern=_DAY_OR_MOMENT_PATTERN)] = None,
    until: Annotated[str | None, Query(description="complaints opened up to (a day: "
                                       f"inclusive): {_DAY_OR_MOMENT}", max_length=40,
                                       pattern=_DAY_OR_MOMENT_PATTERN)] = None,
    as_of: Annotated[str | None, Query(description=f"judge as of ({_DAY_OR_MOMENT}); "
                                       "default: now", max_length=40,
                                       pattern=_DAY_OR_MOMENT_PATTERN)] = None,
    apply_to_open: Annotated[bool, Query(description="preview every later policy of the "
                                         "candidate taking over complaints still open when "
                                         "it comes into force")] = False,
    limit: Annotated[int, Query(ge=0, le=10_000, description="flips listed at most")] = 500,
    side: ReadSide = Depends(read_side),
) -> dict[str, Any]:
    """Replay every complaint (opened in the range) under the candidate book: breaches and
    at-risk alerts before and after, by category and priority, and the deadlines whose
    verdict flips, each explained. Nothing is published and no alert raised."""
    parse: PolicyParser = request.app.state.sla_policy_parser
    try:
        candidate = parse(text)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    try:
        window = OpeningWindow(_moment("since", since), _moment("until", until, end_of_day=True))
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    result = sla_what_if(side.history, side.catalog.policies.sla, candidate,
                         as_of=_moment("as_of", as_of), window=window,
                         apply_to_open=apply_to_open)
    return {**result.as_dict(limit), "window": {
        "since": window.since.isoformat() if window.since else None,
        "until": window.until.isoformat() if window.until else None}}
