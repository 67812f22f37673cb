"""The CloudEvents Kafka binding as ingestion reads it: content mode by ``content-type``,
schema-registry frames, extension attributes kept within limits, and the error class
every refusal carries (issue 19)."""

from __future__ import annotations

import copy
import json
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import refusals
from schemas.envelope import MAX_EXTENSIONS, MAX_EXTENSIONS_CHARS
from schemas.examples import EXAMPLES
from schemas.kafka_binding import content_mode, unframe
from schemas.validation import InvalidEvent, ValidEvent, parse_kafka_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)
DAY = timedelta(days=1)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def order(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(EXAMPLES["crm.order.placed"])
    event.update(changes)
    return event


def ce_headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(f"ce_{name}", str(value).encode()) for name, value in event.items()
            if name not in ("data", "datacontenttype")]


def parse(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ValidEvent:
    return parse_kafka_message(headers or [], value, now=NOW, max_future=DAY)


def refusal(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as raised:
        parse(value, headers)
    return raised.value


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


# --- content mode ---------------------------------------------------------------------

def test_a_cloudevents_content_type_is_structured_even_beside_ce_headers() -> None:
    """The value is the event; the ce_* headers beside it (a proxy copied them, and got the
    subject wrong) are not read."""
    event = order(id="structured-1")
    headers = [*ce_headers(order(id="from-headers", subject="C-other")),
               ("content-type", b"application/cloudevents+json; charset=UTF-8")]
    assert content_mode(headers) == "structured"
    valid = parse(json.dumps(event).encode(), headers)
    assert (valid.event.id, valid.event.subject) == ("structured-1", "C-10042")


def test_ce_headers_without_a_content_type_are_binary() -> None:
    event = order(id="binary-1")
    headers = ce_headers(event)
    assert content_mode(headers) == "binary"
    valid = parse(json.dumps(event["data"]).encode(), headers)
    assert valid.event.id == "binary-1" and valid.event.datacontenttype is None
    assert valid.data_json["amount"] == "129.90"


def test_ce_headers_with_a_json_content_type_are_binary() -> None:
    headers = [*ce_headers(order()), ("content-type", b"application/json")]
    assert content_mode(headers) == "binary"
    assert parse(json.dumps(order()["data"]).encode(), headers).event.datacontenttype == (
        "application/json")


def test_no_headers_at_all_is_read_as_structured_as_upstreams_send_today() -> None:
    assert content_mode([]) == content_mode([("content-type", b"application/json")]) == (
        "structured")
    assert parse(json.dumps(order()).encode(), [("trace", b"\xff")]).event.id == "example-010"


@pytest.mark.parametrize("media_type", [b"application/cloudevents-batch+json",
                                        b"application/cloudevents+avro"])
def test_cloudevents_media_types_other_than_one_json_event_are_refused(media_type: bytes) -> None:
    refused = refusal(json.dumps(order()).encode(), [("content-type", media_type)])
    assert refused.error_class == refusals.CONTENT_MODE
    assert media_type.decode() in refused.reason and "one event per message" in refused.reason


def test_a_content_type_that_is_not_utf8_is_refused_as_a_header_fault() -> None:
    refused = refusal(json.dumps(order()).encode(), [("content-type", b"\xff\xfe")])
    assert (refused.error_class, refused.reason) == (
        refusals.HEADER, "header content-type is not UTF-8")


# --- schema-registry framing ----------------------------------------------------------

def test_a_schema_registry_frame_is_taken_off_and_its_schema_id_kept() -> None:
    assert unframe(framed(100_042, b"{}")) == (b"{}", 100_042)
    assert unframe(b'{"a": 1}') == (b'{"a": 1}', None)
    valid = parse(framed(7, json.dumps(order(id="framed-1")).encode()))
    assert (valid.event.id, valid.schema_id) == ("framed-1", 7)


def test_binary_mode_data_may_be_framed_too() -> None:
    event = order()
    valid = parse(framed(2 ** 32 - 1, json.dumps(event["data"]).encode()), ce_headers(event))
    assert valid.schema_id == 2 ** 32 - 1 and valid.data_json["order_id"] == "O-1042"


def test_a_frame_cut_short_is_refused_naming_the_framing() -> None:
    refused = refusal(b"\x00\x00\x00\x07")
    assert refused.error_class == refusals.FRAMING
    assert "magic byte 0x00" in refused.reason and "4-byte schema id" in refused.reason


def test_what_follows_a_frame_must_be_json_and_the_reason_says_it_was_framed() -> None:
    refused = refusal(framed(9, b"\x02\x10avro"))
    assert refused.error_class == refusals.NOT_JSON
    assert refused.reason.startswith("message value after its schema-registry frame "
                                     "(schema id 9) is not")


# --- extension attributes -------------------------------------------------------------

def test_extension_attributes_are_kept_as_sent() -> None:
    valid = parse(json.dumps(order(traceparent=TRACEPARENT, tracestate="vendor=1",
                                   partitionkey="C-10042", sequence=42, replayed=False,
                                   partnerid=None)).encode())
    assert valid.extensions == {"traceparent": TRACEPARENT, "tracestate": "vendor=1",
                                "partitionkey": "C-10042", "sequence": 42, "replayed": False}


def test_binary_mode_extensions_come_from_ce_headers() -> None:
    event = order()
    headers = [*ce_headers(event), ("ce_traceparent", TRACEPARENT.encode()),
               ("traceparent", b"not ours")]
    assert parse(json.dumps(event["data"]).encode(), headers).extensions == {
        "traceparent": TRACEPARENT}


def test_an_event_without_extensions_has_none() -> None:
    assert parse(json.dumps(order()).encode()).extensions == {}


@pytest.mark.parametrize(("extra", "error_class", "says"), [
    ({"TraceParent": "x"}, refusals.EXTENSION, "lower-case letters a-z and digits 0-9"),
    ({"trace-parent": "x"}, refusals.EXTENSION, "lower-case letters a-z and digits 0-9"),
    ({"a" * 21: "x"}, refusals.EXTENSION, "at most 20 characters long"),
    ({"partner": {"nested": True}}, refusals.EXTENSION, "must be a string, an integer or a"),
    ({"partner": 1.5}, refusals.EXTENSION, "must be a string, an integer or a"),
    ({"sequence": 2 ** 31}, refusals.EXTENSION, "must fit in 32 bits"),
    ({"traceparent": "00-\x07"}, refusals.HOSTILE_TEXT, "U+0007"),
    ({"traceparent": "x" * 2001}, refusals.TOO_LARGE, "at most 2000 characters"),
    ({f"x{n}": "v" for n in range(MAX_EXTENSIONS + 1)}, refusals.TOO_LARGE,
     f"at most {MAX_EXTENSIONS} extension attributes"),
    ({f"x{n}": "v" * 1500 for n in range(3)}, refusals.TOO_LARGE,
     f"at most {MAX_EXTENSIONS_CHARS} characters of names and values"),
])
def test_hostile_extensions_are_refused_with_a_class_and_a_reason(
        extra: dict[str, Any], error_class: str, says: str) -> None:
    refused = refusal(json.dumps(order(**extra)).encode())
    assert refused.error_class == error_class
    assert says in refused.reason


@pytest.mark.parametrize(("name", "error_class", "says"), [
    ("ce_Trace", refusals.EXTENSION, "attribute 'Trace': CloudEvents attribute names are"),
    ("ce_trace\x00", refusals.HOSTILE_TEXT, "trace\\x00: the name contains U+0000 (NUL)"),
])
def test_a_hostile_extension_header_name_is_refused(name: str, error_class: str,
                                                    says: str) -> None:
    event = order()
    refused = refusal(json.dumps(event["data"]).encode(), [*ce_headers(event), (name, b"x")])
    assert refused.error_class == error_class
    assert says in refused.reason  # escaped: the reason is stored and shown


# --- every refusal has its class ------------------------------------------------------

@pytest.mark.parametrize(("value", "error_class"), [
    (b"", refusals.EMPTY),
    (b"{broken", refusals.NOT_JSON),
    (b'{"id": 1, "id": 2}', refusals.NOT_JSON),
    (b"\xff\xfe", refusals.NOT_JSON),
    (json.dumps(order(type="crm.order.teleported")).encode(), refusals.UNKNOWN_TYPE),
    (json.dumps(order(time="2026-11-25T00:00:00Z")).encode(), refusals.FUTURE_TIME),
    (json.dumps(order(subject="")).encode(), refusals.SCHEMA),
    (json.dumps(order(data={"order_id": "O-1", "amount": "-5"})).encode(), refusals.SCHEMA),
    (json.dumps(order(id="a\x00b")).encode(), refusals.HOSTILE_TEXT),
])
def test_each_refusal_names_its_error_class(value: bytes, error_class: str) -> None:
    assert refusal(value).error_class == error_class
    assert error_class in refusals.WIRE_CLASSES
