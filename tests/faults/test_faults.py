"""The short fault-injection run (``tests/faults/scenario.py``): no mismatch under faults."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from generators import loadgen
from projections.catalog import TIMELINE
from tests.faults.scenario import SHORT, Checker, Ledger, Sent, run
from tests.integration.conftest import ServiceUnderTest, service_under_test

pytestmark = pytest.mark.integration


def test_nothing_is_lost_or_duplicated_under_faults(
    kafka_bootstrap: str, postgres_server: object, tmp_path: Path
) -> None:
    with service_under_test({"CRM_STORE": "postgres"}, tmp_path, kafka_bootstrap) as service:
        outcome = run(service, SHORT)
    print(outcome.table())
    assert outcome.injected["kill consumer"] >= 4 and outcome.injected["restart Kafka"] == 1
    found = {what.split(":")[0]: detail for what, detail, _ in outcome.rows}
    assert not found["alerts"].startswith("0 raised"), "no alert raised: the check saw nothing"
    assert not found["dead letters"].startswith("0 of"), "no poison sent"
    assert outcome.mismatches == 0, outcome.table()


def test_the_checker_sees_a_lost_event_a_wrong_row_and_a_lost_dead_letter(
    pg_service: ServiceUnderTest,
) -> None:
    """The control: the same checks on a calm run find what was broken on purpose."""
    service = pg_service
    sent = loadgen.generate(300, customers=20, seed=5, topic_of=service.settings.topic_for)
    for event in sent:
        service.publish(event.topic, event.value, key=event.key)
    service.flush()
    ledger = Ledger()
    ledger.valid = {event.event_id: event for event in sent}
    ledger.messages = len(sent)
    service.start("consume")
    service.start("project")
    Checker(service, ledger).wait_until_quiet(timeout=120)

    never_sent = loadgen.generate(301, customers=20, seed=5, topic_of=service.settings.topic_for)[-1]
    ledger.valid[never_sent.event_id] = never_sent
    ledger.poison[b"never sent"] = Sent(service.settings.topic_orders, None, b"never sent")
    checker = Checker(service, ledger)
    lost_row = sent[0]
    with service.views.write() as db:
        db.execute(f"DELETE FROM {checker.catalog.live(TIMELINE).table} WHERE event_id = %s",
                   [lost_row.event_id])
    outcome = checker.check(Counter())
    mismatches = {what.split(":")[0]: m for what, _, m in outcome.rows}
    assert mismatches["store"] == 1
    assert mismatches["timeline"] == 2  # the deleted row, and the row of the event never sent
    assert mismatches["customer 360 = fold_customer over the events sent"] == 1
    assert mismatches["dead letters"] == 1
    assert mismatches["alerts"] == 0
