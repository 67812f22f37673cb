"""``CrmTimeline``: the HTTP API for upstream systems and tools, small and hand-kept.

Every method is one endpoint of the README's *HTTP API*; listings that the API pages by
cursor are iterators that fetch the next page when the last one is used up. Any answer
but a success raises ``CrmTimelineError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from crm_timeline_client.errors import CrmTimelineError
from crm_timeline_client.events import CloudEvent
from crm_timeline_client.models import (
    Alert,
    Customer360,
    PublishResult,
    Queue,
    Rejection,
    Segment,
    SegmentMember,
    SegmentMembersPage,
    TimelineEntry,
    TimelinePage,
)

__version__ = "0.1.0"
#: ``CRM_API_MAX_EVENTS_PER_REQUEST``'s default: more events are sent in several requests.
MAX_EVENTS_PER_REQUEST = 500

Model = TypeVar("Model", bound=BaseModel)


def _segment(value: str) -> str:
    """One path segment: ids may hold ``/`` (and alert ids always hold ``:``)."""
    return quote(value, safe="")


def _moment(name: str, value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{name} must carry a UTC offset (a timezone-aware datetime)")
        return value.isoformat()
    return value


class CrmTimeline:
    """The customer timeline service's HTTP API, signed in with one API key.

    ``transport`` (an ``httpx`` transport) is for proxies, retries or tests; ``timeout`` in
    seconds applies to each request. Use it as a context manager, or ``close()`` it.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 max_events_per_request: int = MAX_EVENTS_PER_REQUEST) -> None:
        self.max_events_per_request = max_events_per_request
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {api_key}",
                     "User-Agent": f"crm-timeline-client/{__version__}"})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # requests ------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        query = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = self._http.request(method, path, params=query, json=json)
        except httpx.HTTPError as error:
            raise CrmTimelineError(None, f"no answer from {self._http.base_url}: {error}") from error
        if response.status_code not in ok:
            raise CrmTimelineError.from_response(response)
        return response

    def _get(self, model: type[Model], path: str, **params: Any) -> Model:
        return model.model_validate(self._send("GET", path, params=params).json())

    # ingestion -----------------------------------------------------------------------
    def publish(self, events: CloudEvent | Mapping[str, Any]
                | Iterable[CloudEvent | Mapping[str, Any]]) -> PublishResult:
        """``POST /events``: publish events (built with the builders, or wire-form dicts),
        at most ``max_events_per_request`` a request. Each is accepted (published to Kafka,
        then stored) or rejected with the service's reason; ``index`` counts over all of
        ``events``. A rejection is an answer, not an error: nothing is raised for it (but a
        key that lacks the permission every event needs, 403, raises ``CrmTimelineError``;
        requests sent before one that raises stay published)."""
        if isinstance(events, CloudEvent | Mapping):
            events = [events]
        wire = [e.to_dict() if isinstance(e, CloudEvent) else dict(e) for e in events]
        accepted: list[str] = []
        rejected: list[Rejection] = []
        for start in range(0, len(wire), self.max_events_per_request):
            response = self._send("POST", "/events", json=wire[start:start + self.max_events_per_request],
                                  ok=(202, 422))
            result = PublishResult.model_validate(response.json())
            accepted += result.accepted
            rejected += [r.model_copy(update={"index": r.index + start}) for r in result.rejected]
        return PublishResult(accepted=accepted, rejected=rejected)

    # customers -----------------------------------------------------------------------
    def customer(self, customer_id: str, as_of: datetime | str | None = None,
                 known_at: datetime | str | None = None) -> Customer360:
        """``GET /customers/{id}``: the 360 view now, as of a moment, or as known then."""
        return self._get(Customer360, f"/customers/{_segment(customer_id)}",
                         as_of=_moment("as_of", as_of), known_at=_moment("known_at", known_at))

    def timeline_page(self, customer_id: str, *, cursor: str | None = None,
                      type: str | None = None, channel: str | None = None,
                      since: datetime | str | None = None, until: datetime | str | None = None,
                      as_of: datetime | str | None = None, known_at: datetime | str | None = None,
                      order: str = "newest", limit: int | None = None) -> TimelinePage:
        """``GET /customers/{id}/timeline``: one page, for callers that keep the cursor."""
        return self._get(TimelinePage, f"/customers/{_segment(customer_id)}/timeline",
                         cursor=cursor, type=type, channel=channel,
                         since=_moment("since", since), until=_moment("until", until),
                         as_of=_moment("as_of", as_of), known_at=_moment("known_at", known_at),
                         order=order, limit=limit)

    def timeline(self, customer_id: str, *, type: str | None = None,
                 channel: str | None = None, since: datetime | str | None = None,
                 until: datetime | str | None = None, as_of: datetime | str | None = None,
                 known_at: datetime | str | None = None, order: str = "newest",
                 page_size: int | None = None) -> Iterator[TimelineEntry]:
        """Every entry of the customer's timeline (newest first unless ``order="oldest"``),
        page after page; pages are keyset positions, so entries arriving meanwhile do not
        shift them."""
        cursor = None
        while True:
            page = self.timeline_page(customer_id, cursor=cursor, type=type, channel=channel,
                                      since=since, until=until, as_of=as_of, known_at=known_at,
                                      order=order, limit=page_size)
            yield from page.entries
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # agents' work --------------------------------------------------------------------
    def queue(self, *, agent: str | None = None, team: str | None = None,
              owner: str | None = None, kind: str | None = None,
              limit: int | None = None) -> Queue:
        """``GET /queue``: open complaints, follow-ups and alerts, soonest due first."""
        return self._get(Queue, "/queue", agent=agent, team=team, owner=owner, kind=kind,
                         limit=limit)

    def alerts(self, *, kind: str | None = None, status: str | None = None,
               customer_id: str | None = None, limit: int | None = None) -> list[Alert]:
        """``GET /alerts``: newest first, each with its customer's current owner."""
        answer = self._send("GET", "/alerts", params={"kind": kind, "status": status,
                                                      "customer_id": customer_id, "limit": limit})
        return [Alert.model_validate(row) for row in answer.json()["alerts"]]

    def acknowledge(self, alert_id: str, by: str | None = None) -> Alert:
        """``POST /alerts/{id}/ack``: the first acknowledgement stands; repeating is harmless."""
        answer = self._send("POST", f"/alerts/{_segment(alert_id)}/ack",
                            json={"by": by} if by is not None else None)
        return Alert.model_validate(answer.json())

    # segments ------------------------------------------------------------------------
    def segments(self) -> list[Segment]:
        """``GET /segments``: every segment's current definition and member count."""
        answer = self._send("GET", "/segments")
        return [Segment.model_validate(row) for row in answer.json()["segments"]]

    def segment_members(self, name: str, as_of: datetime | str | None = None, *,
                        page_size: int | None = None) -> Iterator[SegmentMember]:
        """``GET /segments/{name}/members``: members in id order, now or as of a moment,
        page after page."""
        cursor = None
        while True:
            page = self._get(SegmentMembersPage, f"/segments/{_segment(name)}/members",
                             as_of=_moment("as_of", as_of), cursor=cursor, limit=page_size)
            yield from page.members
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
