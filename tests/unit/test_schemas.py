"""The wire contract: what upstream teams may send, and what they hear back when it is wrong."""

from __future__ import annotations

import ast
import copy
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import schemas
from domain.facts import FACT_CLASSES
from projections.summaries import summarize
from schemas.examples import EXAMPLES
from schemas.registry import EVENT_TYPES, TOPIC_FAMILIES, default_topic
from schemas.validation import (
    InvalidEvent,
    parse_binary,
    parse_event,
    parse_kafka_message,
    parse_structured,
)

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
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return event


def binary_headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The ``ce_*`` headers of an event sent in binary mode (its data goes in the value)."""
    attributes = [(f"ce_{name}", str(value).encode()) for name, value in event.items()
                  if name not in ("data", "datacontenttype")]
    return [*attributes, ("content-type", b"application/json")]


def test_every_type_has_an_example_a_stored_fact_and_a_summary() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES) == set(FACT_CLASSES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_payload_says_which_business_fact_it_is(event_type: str) -> None:
    assert EVENT_TYPES[event_type].__doc__


def test_every_type_has_a_default_topic_and_surveys_travel_with_contacts() -> None:
    assert set(TOPIC_FAMILIES) == {event_type.rsplit(".", 1)[0] for event_type in EVENT_TYPES}
    assert {default_topic(event_type) for event_type in EVENT_TYPES} == {
        "crm.accounts", "crm.contacts", "crm.orders", "crm.complaints"
    }
    assert default_topic("crm.survey.answered") == "crm.contacts"


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
        (example("crm.order.placed", data__amount="1.234"), "data.amount"),
        (example("crm.order.placed", data__amount="1e3"), "data.amount"),
        (example("crm.order.placed", data__amount="NaN"), "data.amount"),
        (example("crm.order.placed", data__items__0__unit_price="-1"), "data.items.0.unit_price"),
        (example("crm.order.placed", data__order_id=...), "data.order_id"),
        (example("crm.order.placed", data=...), "data"),
        (example("crm.order.placed", data=[1]), "data"),
        (example("crm.order.placed", id=""), "id"),
        (example("crm.order.placed", source=...), "source"),
        (example("crm.order.placed", subject=" C-10042"), "subject"),
        (example("crm.order.placed", subject=10042), "subject"),
        (example("crm.order.placed", time=1_763_647_500), "time"),
        (example("crm.order.placed", time="2026-11-20T14:05+01:00"), "time"),
        (example("crm.order.placed", time="yesterday"), "time"),
        (example("crm.order.placed", datacontenttype="text/plain"), "datacontenttype"),
        (example("crm.account.opened", data__email="greta novak@example.com"), "data.email"),
        (example("crm.account.opened", data__country="Germany"), "data.country"),
        (example("crm.account.updated", data__changes={"mood": "happy"}), "data.changes.mood"),
        (example("crm.account.updated", data__changes={"name": 3}), "data.changes.name"),
        (example("crm.account.consent_changed", data__granted="yes"), "data.granted"),
        (example("crm.account.consent_changed", data__channel="pigeon"), "data.channel"),
        (example("crm.complaint.opened", data__priority="critical"), "data.priority"),
        (example("crm.complaint.paused", data__reason=...), "data.reason"),
        (example("crm.survey.answered", data__csat="5"), "data.csat"),
        (b'{"amount": NaN}', "NaN"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason_naming_the_problem(
    event: Any, mentions: str
) -> None:
    assert mentions in reason_of(event)


def test_an_event_up_to_a_day_ahead_is_accepted_for_clock_skew() -> None:
    assert parse(example("crm.order.placed", time=(NOW + DAY / 2).isoformat()))


def test_an_empty_message_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="empty"):
        parse_kafka_message([], None, now=NOW, max_future=DAY)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (example("crm.order.placed", data__amount="-5.00"),
         "data.amount: must be >= 0 (got '-5.00')"),
        (example("crm.order.placed", type="crm.order.exploded"),
         "unknown event type 'crm.order.exploded'"),
        (example("crm.order.placed", subject=...), "missing attribute 'subject'"),
        (example("crm.order.placed", data__order_id=...), "missing field 'data.order_id'"),
        (example("crm.contact.logged", data__mood="grumpy"), "data.mood: unknown field"),
        (example("crm.order.placed", time=(NOW + 3 * DAY).isoformat()),
         "time 2026-11-24T00:00:00+00:00 is 3 days in the future (at most 24 hours allowed)"),
        (b"", "empty message: no value"),
        (b"{", "message value is not valid JSON: Expecting property name enclosed in double quotes"
               " at line 1 column 2"),
    ],
)
def test_reasons_say_where_and_what_to_fix_in_a_few_words(event: Any, reason: str) -> None:
    assert reason_of(event) == reason


def test_a_naive_time_is_refused_with_a_hint_at_the_offset() -> None:
    assert reason_of(example("crm.order.placed", time="2026-11-20T14:05:00")) == (
        "time: has no UTC offset; add 'Z' or one such as '+01:00' (RFC 3339)"
        " (got '2026-11-20T14:05:00')"
    )


def test_up_to_three_problems_are_named_then_counted() -> None:
    event = example("crm.order.placed", id=..., source=..., subject=..., time=...)
    assert reason_of(event) == (
        "missing attribute 'id'; missing attribute 'source'; missing attribute 'subject';"
        " and 1 more"
    )


def test_times_in_any_offset_and_extension_attributes_are_accepted() -> None:
    event = example("crm.order.placed", time="2026-11-20T13:05:00.250Z", traceparent="00-ab-cd-01")
    valid = parse(event)
    assert valid.event.time == datetime(2026, 11, 20, 13, 5, 0, 250_000, tzinfo=UTC)
    assert not valid.event.model_extra, "the envelope model keeps only its own attributes"
    assert valid.extensions == {"traceparent": "00-ab-cd-01"}, "the extensions are kept beside"


def test_data_json_keeps_every_field_so_stored_facts_have_one_shape() -> None:
    event = example("crm.contact.logged", data={"channel": "chat", "direction": "inbound"})
    assert parse(event).data_json == {
        "channel": "chat", "direction": "inbound", "agent_id": None, "subject": None,
        "outcome": None, "duration_seconds": None, "follow_up_at": None, "platform": None,
        "handle": None,
    }


def test_profile_changes_keep_only_the_fields_sent_and_null_clears() -> None:
    changes = {"phone": "+49 40 7654321", "address": None}
    assert parse(example("crm.account.updated", data__changes=changes)).data_json == {
        "changes": changes, "actor": None,
    }


def test_binary_mode_reads_attributes_from_ce_headers() -> None:
    event = EXAMPLES["crm.order.placed"]
    valid = parse(json.dumps(event["data"]).encode(), headers=binary_headers(event))
    assert valid.event.subject == "C-10042"
    assert valid.event.datacontenttype == "application/json"
    assert valid.data_json["amount"] == "129.90"


def test_binary_mode_ignores_headers_outside_the_contract() -> None:
    event = EXAMPLES["crm.survey.answered"]
    headers = [*binary_headers(event), ("trace-bin", b"\xff\x00"), ("ce_partnerext", b"x")]
    assert parse(json.dumps(event["data"]).encode(), headers=headers).payload


@pytest.mark.parametrize(
    ("headers", "value", "mentions"),
    [
        ([("ce_specversion", b"1.0"), ("ce_subject", b"\xff")], b"{}", "ce_subject"),
        ([*binary_headers(EXAMPLES["crm.order.placed"])[:-1],
          ("content-type", b"application/avro")], b"\x00\x01", "datacontenttype"),
        ([h for h in binary_headers(EXAMPLES["crm.order.placed"]) if h[0] != "ce_subject"],
         json.dumps(EXAMPLES["crm.order.placed"]["data"]).encode(), "missing attribute 'subject'"),
        (binary_headers(EXAMPLES["crm.order.placed"]), b"not json", "not valid JSON"),
    ],
)
def test_binary_mode_rejects_with_a_reason(
    headers: list[tuple[str, bytes]], value: bytes, mentions: str
) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_kafka_message(headers, value, now=NOW, max_future=DAY)
    assert mentions in raised.value.reason


def test_each_mode_can_be_parsed_directly() -> None:
    event = EXAMPLES["crm.complaint.opened"]
    by_value = parse_structured(json.dumps(event).encode(), now=NOW, max_future=DAY)
    headers = {name: value.decode() for name, value in binary_headers(event)}
    by_headers = parse_binary(headers, json.dumps(event["data"]).encode(), now=NOW, max_future=DAY)
    assert by_value == by_headers == parse_event(event, now=NOW, max_future=DAY)


def test_the_receiver_clock_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_event(EXAMPLES["crm.order.placed"], now=datetime(2026, 11, 21), max_future=DAY)


def test_amounts_keep_their_decimal_digits() -> None:
    valid = parse(example("crm.order.placed", data__amount="129.90"))
    assert valid.data_json["amount"] == "129.90"


def test_the_contract_depends_on_pydantic_and_the_standard_library_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "schemas", "__future__"}
    for module in Path(schemas.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"
