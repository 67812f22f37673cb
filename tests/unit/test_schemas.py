"""The wire contract: what upstream teams may send, and what they hear back when it is wrong."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.facts import FACT_CLASSES
from projections.summaries import summarize
from schemas.examples import EXAMPLES
from schemas.registry import EVENT_TYPES
from schemas.validation import InvalidEvent, parse_kafka_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)
DAY = timedelta(days=1)


def parse(event: Any, headers: list[tuple[str, bytes]] | None = None) -> Any:
    value = event if isinstance(event, bytes) else json.dumps(event).encode()
    return parse_kafka_message(headers or [], value, now=NOW, max_future=DAY)


def reason_of(event: Any) -> str:
    with pytest.raises(InvalidEvent) as raised:
        parse(event)
    return raised.value.reason


def example(event_type: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(EXAMPLES[event_type])
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return event


def test_every_type_has_an_example_a_stored_fact_and_a_summary() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES) == set(FACT_CLASSES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_example_is_accepted_and_summarized(event_type: str) -> None:
    valid = parse(EXAMPLES[event_type])
    assert valid.event.type == event_type
    assert summarize(event_type, valid.data_json)


@pytest.mark.parametrize(
    ("event", "mentions"),
    [
        (b'{"specversion": "1.0", "id": ', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (example("crm.order.placed", type="crm.order.exploded"), "crm.order.exploded"),
        (example("crm.order.placed", subject=...), "subject"),
        (example("crm.order.placed", subject="C" * 65), "subject"),
        (example("crm.order.placed", specversion="0.3"), "specversion"),
        (example("crm.order.placed", data__amount="-5.00"), "data.amount"),
        (example("crm.order.placed", data__amount=129.9), "data.amount"),
        (example("crm.order.placed", data__currency="euro"), "data.currency"),
        (example("crm.order.placed", data__items=[{"sku": "S", "name": "N", "quantity": 0,
                                                  "unit_price": "1.00"}]), "data.items.0.quantity"),
        (example("crm.contact.logged", data__channel="pigeon"), "data.channel"),
        (example("crm.contact.logged", data__duration_seconds="long"), "data.duration_seconds"),
        (example("crm.contact.logged", data__mood="grumpy"), "data.mood"),
        (example("crm.survey.answered", data__nps=11), "data.nps"),
        (example("crm.survey.answered", data__nps=..., data__csat=...), "nps or csat"),
        (example("crm.account.updated", data__changes={}), "at least one"),
        (example("crm.account.merged", data__duplicate_customer_id="C-10042"), "itself"),
        (example("crm.order.placed", time="2026-11-20T14:05:00"), "time"),
        (example("crm.order.placed", time=(NOW + 2 * DAY).isoformat()), "future"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason_naming_the_problem(event: Any, mentions: str) -> None:
    assert mentions in reason_of(event)


def test_an_event_up_to_a_day_ahead_is_accepted_for_clock_skew() -> None:
    assert parse(example("crm.order.placed", time=(NOW + DAY / 2).isoformat()))


def test_an_empty_message_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="empty"):
        parse_kafka_message([], None, now=NOW, max_future=DAY)


def test_binary_mode_reads_attributes_from_ce_headers() -> None:
    event = EXAMPLES["crm.order.placed"]
    headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k not in ("data", "datacontenttype")]
    valid = parse(json.dumps(event["data"]).encode(), headers=[*headers, ("content-type", b"application/json")])
    assert valid.event.subject == "C-10042"
    assert valid.data_json["amount"] == "129.90"


def test_amounts_keep_their_decimal_digits() -> None:
    valid = parse(example("crm.order.placed", data__amount="129.90"))
    assert valid.data_json["amount"] == "129.90"
