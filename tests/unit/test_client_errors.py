"""The Python client's one error type reads both error bodies the API answers with:
FastAPI's ``{"detail": ...}`` and RFC 9457 problem+json; and no answer at all."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from crm_timeline_client import CrmTimeline, CrmTimelineError, builders

pytestmark = pytest.mark.unit


def answering(status: int, body: Any, content_type: str = "application/json") -> CrmTimeline:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(
        status, content=content, headers={"content-type": content_type}))
    return CrmTimeline("http://crm.test", "crm_key", transport=transport)


def raised(client: CrmTimeline) -> CrmTimelineError:
    with pytest.raises(CrmTimelineError) as error:
        client.customer("C-1")
    return error.value


def test_a_detail_body_gives_status_and_detail() -> None:
    error = raised(answering(404, {"detail": "no customer 'C-1' known as of 2026-12-03"}))
    assert (error.status, error.detail, error.type) == (
        404, "no customer 'C-1' known as of 2026-12-03", None)


def test_a_problem_json_body_gives_type_title_and_detail() -> None:
    problem = {"type": "urn:crm-timeline:problem:unknown-customer", "title": "Unknown customer",
               "status": 404, "detail": "no customer 'C-1'"}
    error = raised(answering(404, problem, "application/problem+json"))
    assert (error.status, error.detail, error.type, error.title) == (
        404, "no customer 'C-1'", "urn:crm-timeline:problem:unknown-customer", "Unknown customer")
    untold = raised(answering(503, {"type": "about:blank", "title": "Service Unavailable"},
                              "application/problem+json"))
    assert untold.detail == "Service Unavailable"


def test_fastapi_validation_problems_are_joined_into_one_detail() -> None:
    body = {"detail": [{"loc": ["query", "as_of"], "msg": "Input should be a valid datetime"},
                       {"loc": ["query", "limit"], "msg": "Input should be less than 501"}]}
    assert raised(answering(422, body)).detail == (
        "query.as_of: Input should be a valid datetime; query.limit: Input should be less than 501")


def test_a_body_that_is_not_json_is_kept_as_text() -> None:
    error = raised(answering(502, b"<html>Bad Gateway</html>", "text/html"))
    assert (error.status, error.detail) == (502, "<html>Bad Gateway</html>")


def test_no_answer_is_the_same_error_without_a_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = CrmTimeline("http://crm.test", "crm_key", transport=httpx.MockTransport(refuse))
    error = raised(client)
    assert error.status is None and "connection refused" in error.detail


def test_publish_sends_at_most_the_limit_a_request_and_counts_indexes_over_all() -> None:
    sent: list[list[dict[str, Any]]] = []

    def events(request: httpx.Request) -> httpx.Response:
        batch = json.loads(request.content)
        sent.append(batch)
        assert request.headers["authorization"] == "Bearer crm_key"
        return httpx.Response(202, json={"accepted": [e["id"] for e in batch[1:]],
                                         "rejected": [{"index": 0, "id": batch[0]["id"],
                                                       "reason": "refused for the test"}]})

    client = CrmTimeline("http://crm.test", "crm_key", transport=httpx.MockTransport(events),
                         max_events_per_request=2)
    built = [builders.complaint_resumed("C-1", source="s", complaint_id="K-1", event_id=f"e{n}")
             for n in range(5)]
    result = client.publish(built)
    assert [len(batch) for batch in sent] == [2, 2, 1]
    assert result.accepted == ["e1", "e3"]
    assert [(r.index, r.id) for r in result.rejected] == [(0, "e0"), (2, "e2"), (4, "e4")]
    assert not result.ok
