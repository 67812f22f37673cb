"""The Python client against the live API: a real service (Kafka, PostgreSQL, the consumer
and the projector) served over HTTP by uvicorn; events published with the client's
builders are stored, projected and read back through the client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from crm_timeline_client import CrmTimeline, CrmTimelineError, InvalidEvent, builders, validate

from tests.events import NOW, hours_ago
from tests.integration.conftest import ServedApi, ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration

CUSTOMER = "C-client/7"  # a slash: ids travel as one path segment


class Served(ServedApi):
    """The service's API app over HTTP (uvicorn in a thread), with an agent's and an
    upstream system's keys."""

    def __init__(self, service: ServiceUnderTest) -> None:
        super().__init__(service.settings, service.history, service.views)
        self.admin_key = self.app.state.keys.create("Ada Admin", "admin")
        self.agent_key = self.app.state.keys.create("Sven", "agent", agent_id="A-007")
        self.ingest_key = self.app.state.keys.create("web-shop", "ingest")


@pytest.fixture
def served(pg_service: ServiceUnderTest) -> Iterator[Served]:
    with Served(pg_service) as running:
        yield running


def the_customers_events() -> list[Any]:
    source = "tests/client"
    return [
        builders.account_opened(CUSTOMER, source="crm/identity", name="Greta Novak",
                                email="greta@example.com", country="DE", event_id="cl-open",
                                time=hours_ago(6)),
        builders.account_owner_assigned(CUSTOMER, source="crm/identity", owner_id="A-007",
                                owner_name="Sven Weber", event_id="cl-owner", time=hours_ago(5)),
        builders.order_placed(CUSTOMER, source=source, order_id="O-1", amount="129.90",
                              currency="EUR", event_id="cl-order", time=hours_ago(4),
                              extensions={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
        builders.complaint_opened(CUSTOMER, source=source, complaint_id="K-1", priority="high",
                                  order_id="O-1", summary="Parcel damaged", event_id="cl-complaint",
                                  time=hours_ago(3)),
        builders.contact_logged(CUSTOMER, source=source, channel="phone", direction="outbound",
                                agent_id="A-007", outcome="follow_up",
                                follow_up_at=NOW + timedelta(days=1), event_id="cl-contact",
                                time=hours_ago(2)),
    ]


def test_events_published_with_the_client_are_stored_projected_and_read_through_it(
    pg_service: ServiceUnderTest, served: Served,
) -> None:
    service = pg_service
    shop = CrmTimeline(served.base, served.ingest_key, timeout=30)
    # A wire-form event the client refuses is refused by the service in the same words.
    negative = {**builders.order_refunded(CUSTOMER, source="s", order_id="O-1", amount="1.00",
                                          event_id="cl-bad").to_dict()}
    negative["data"] = {**negative["data"], "amount": "-1.00"}
    with pytest.raises(InvalidEvent) as refused:
        validate(negative)
    result = shop.publish([*the_customers_events(), negative])
    assert result.accepted == ["cl-open", "cl-owner", "cl-order", "cl-complaint", "cl-contact"]
    assert [(r.index, r.id, r.reason) for r in result.rejected] == [
        (5, "cl-bad", refused.value.reason)]
    assert refused.value.reason == "data.amount: must be >= 0 (got '-1.00')"

    service.start("consume")
    service.start("project")
    agent = CrmTimeline(served.base, served.agent_key)

    def projected() -> bool:
        try:
            page = agent.timeline_page(CUSTOMER)
            view = agent.customer(CUSTOMER)
        except CrmTimelineError as error:
            assert error.status == 404, error  # not there yet: nothing else may fail
            return False
        return len(page.entries) == 5 and view.document["owner"] is not None

    wait_until(projected, timeout=90, what="the client's events stored and projected")

    view = agent.customer(CUSTOMER)
    assert view.customer_id == CUSTOMER and view.merged_ids == []
    assert view.document["profile"]["name"] == "Greta Novak"
    assert view.orders["count"] == 1  # sections are attributes too
    before = agent.customer(CUSTOMER, as_of=hours_ago(3.5))
    assert before.document["complaints"]["total"] == 0

    entries = list(agent.timeline(CUSTOMER, page_size=2))  # three pages
    assert [e.event_id for e in entries] == [
        "cl-contact", "cl-complaint", "cl-order", "cl-owner", "cl-open"]
    assert entries[0].time == hours_ago(2) and entries[2].data["amount"] == "129.90"
    oldest = [e.event_id for e in agent.timeline(CUSTOMER, order="oldest", type="crm.order")]
    assert oldest == ["cl-order"]

    queue = agent.queue()  # the key's own agent, A-007, owns the customer
    assert queue.agent == "A-007"
    work = {(item.kind, item.complaint_id or item.task_id) for item in queue.items
            if item.customer_id == CUSTOMER}
    assert ("complaint", "K-1") in work
    assert any(kind == "follow_up" for kind, _ in work)
    assert all(item.owner and item.owner.id == "A-007" for item in queue.items)

    with pytest.raises(CrmTimelineError) as unknown:
        agent.customer("C-nobody")
    assert unknown.value.status == 404
    assert "no customer 'C-nobody'" in unknown.value.detail
    with pytest.raises(CrmTimelineError) as no_alert:
        agent.acknowledge("sla:K-404:x")
    assert no_alert.value.status == 404 and "no alert 'sla:K-404:x'" in no_alert.value.detail
    with pytest.raises(CrmTimelineError) as forbidden:
        shop.customer(CUSTOMER)  # an ingest key reads nothing
    assert forbidden.value.status == 403


def test_alerts_segments_and_their_members_through_the_client(
    pg_service: ServiceUnderTest, served: Served,
) -> None:
    service = pg_service
    events = [builders.account_opened(f"C-seg-{n}", source="crm/identity", name=f"Member {n}",
                                      country="AT", event_id=f"seg-open-{n}", time=hours_ago(3))
              for n in range(5)]
    # A call after the customer withdrew consent to calls raises an alert.
    events.append(builders.account_consent_changed("C-seg-0", source="crm/identity",
                                                   channel="phone", granted=False,
                                                   event_id="seg-consent", time=hours_ago(2)))
    events.append(builders.contact_logged("C-seg-0", source="crm/telephony", channel="phone",
                                          direction="outbound", event_id="seg-call",
                                          time=hours_ago(1)))
    assert CrmTimeline(served.base, served.ingest_key).publish(events).ok
    admin = httpx.Client(base_url=served.base,
                         headers={"Authorization": f"Bearer {served.admin_key}"})
    defined = admin.put("/segments/austria", json={"rule": {"field": "country", "eq": "AT"},
                                                   "description": "customers in Austria"})
    assert defined.status_code == 200, defined.text
    service.start("consume")
    service.start("project")
    agent = CrmTimeline(served.base, served.agent_key)

    def built() -> bool:
        segments = {s.name: s for s in agent.segments()}
        return "austria" in segments and segments["austria"].members == 5

    wait_until(built, timeout=90, what="the segment built over the five customers")
    members = list(agent.segment_members("austria", page_size=2))
    assert [m.customer_id for m in members] == [f"C-seg-{n}" for n in range(5)]
    assert {m.name for m in members} == {f"Member {n}" for n in range(5)}
    with pytest.raises(CrmTimelineError) as missing:
        list(agent.segment_members("nowhere"))
    assert missing.value.status == 404 and "no segment 'nowhere'" in missing.value.detail

    alerts = wait_until(lambda: agent.alerts(customer_id="C-seg-0", status="open"), timeout=60,
                        what="the outbound-without-consent alert")
    assert alerts[0].kind == "outbound_without_consent"
    acknowledged = agent.acknowledge(alerts[0].alert_id)
    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_by == "A-007"
    assert agent.alerts(customer_id="C-seg-0", status="open") == []
