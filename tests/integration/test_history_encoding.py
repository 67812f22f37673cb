"""Recorded facts are stored exactly as the event-sourcing library's mapper would store them,
so the library reads them back (and what was stored before reads the same)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.facts import FACT_CLASSES, ReportedFact, customer_stream_id
from history.arrivals import Arrival
from tests.integration.conftest import ServiceUnderTest

pytestmark = pytest.mark.integration

OPENED = ReportedFact("e-1", "crm.account.opened", "crm", "C-1",
                      datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC),
                      {"name": "Ottilie Wunder", "email": "o@example.org", "country": "DE"})
ORDER = ReportedFact("e-2", "crm.order.placed", "shop", "C-1",
                     datetime(2026, 3, 2, tzinfo=UTC),
                     {"order_id": "O-1", "items": [], "total": "0.00", "currency": "EUR"})


def test_a_recorded_fact_is_what_the_mapper_makes_of_its_customer_fact(
    service: ServiceUnderTest,
) -> None:
    history = service.history
    history.record([Arrival("test:feed", 0, OPENED), Arrival("test:feed", 1, ORDER)])
    stored = history.recorder.select_notifications(start=0, limit=10)
    assert [(s.originator_id, s.originator_version) for s in stored] == [
        (customer_stream_id("C-1"), 1), (customer_stream_id("C-1"), 2)]

    for notification, reported in zip(stored, (OPENED, ORDER), strict=True):
        fact = history.mapper.to_domain_event(notification)
        assert type(fact) is FACT_CLASSES[reported.event_type]
        assert (fact.event_id, fact.source, fact.customer_id, fact.occurred_at) == (
            reported.event_id, reported.source, reported.customer_id, reported.occurred_at)
        again = history.mapper.to_stored_event(fact)
        assert (again.topic, again.state) == (notification.topic, notification.state)

    opened, order = history.facts_of(stored)
    assert opened.data == OPENED.data and order.data == ORDER.data  # unsealed, whole
    assert opened.timestamp == order.timestamp  # one batch, one recording time


def test_later_batches_continue_each_customers_stream(service: ServiceUnderTest) -> None:
    history = service.history
    history.record([Arrival("test:feed", 0, OPENED)])
    history.record([Arrival("test:feed", 1, ORDER), Arrival("test:feed", 2, replace(
        ORDER, event_id="e-3", customer_id="C-2"))])
    stored = history.recorder.select_notifications(start=0, limit=10)
    assert [(s.originator_id, s.originator_version) for s in stored] == [
        (customer_stream_id("C-1"), 1), (customer_stream_id("C-1"), 2),
        (customer_stream_id("C-2"), 1)]
