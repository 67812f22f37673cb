"""Text nobody imagined: control characters, lone surrogates, ambiguous JSON, absurd dates.

Each is refused at the edge with a reason that names the place and the character, so
it reaches the dead-letter topic instead of a database that cannot store it.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.examples import EXAMPLES
from schemas.text import printable, text_problem
from schemas.validation import InvalidEvent, parse_event, parse_kafka_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)
DAY = timedelta(days=1)


def event(event_type: str = "crm.complaint.opened", **changes: Any) -> dict[str, Any]:
    built = copy.deepcopy(EXAMPLES[event_type])
    for path, value in changes.items():
        target = built
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[leaf] = value
    return built


def reason(value: bytes | dict[str, Any], headers: list[tuple[str, bytes]] | None = None) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    with pytest.raises(InvalidEvent) as raised:
        parse_kafka_message(headers or [], raw, now=NOW, max_future=DAY)
    return raised.value.reason


def accepted(value: dict[str, Any]) -> Any:
    return parse_kafka_message([], json.dumps(value).encode(), now=NOW, max_future=DAY)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"id": "ev-\x00-1"}, "id: contains U+0000 (NUL) at character 4"),
    ({"subject": "C-\x0010042"}, "subject: contains U+0000 (NUL) at character 3"),
    ({"source": "crm/\x00shop"}, "source: contains U+0000 (NUL) at character 5"),
    ({"type": "crm.complaint.opened\x00"}, "type: contains U+0000 (NUL) at character 21"),
    ({"data__summary": "late\x00"}, "data.summary: contains U+0000 (NUL) at character 5"),
    ({"data__summary": "late\r\nparcel"},
     "data.summary: contains U+000D (carriage return) at character 5"),
    ({"data__category": "deli\x1bvery"},
     "data.category: contains U+001B (escape) at character 5"),
    ({"traceparent": "00-\x07"}, "traceparent: contains U+0007 (a control character) at character 4"),
])
def test_control_characters_are_refused_and_named_wherever_they_are(
        changes: dict[str, Any], expected: str) -> None:
    assert reason(event(**changes)) == expected


def test_a_control_character_in_an_object_key_is_refused() -> None:
    hostile = event()
    hostile["data"]["sum\x00mary"] = "x"
    assert reason(hostile) == "data.sum\\x00mary: the name contains U+0000 (NUL) at character 4"


@pytest.mark.parametrize("field", ["subject", "id", "source", "data__category",
                                   "data__complaint_id"])
def test_single_line_fields_refuse_tab_and_newline(field: str) -> None:
    assert f"{field.replace('__', '.')}: must be one line" in reason(event(**{field: "a\tb"}))
    assert f"{field.replace('__', '.')}: must be one line" in reason(event(**{field: "a\nb"}))


def test_free_text_keeps_tab_and_newline() -> None:
    valid = accepted(event(data__summary="Parcel late:\n\t- ordered Monday\n\t- not here"))
    assert valid.data_json["summary"] == "Parcel late:\n\t- ordered Monday\n\t- not here"


def test_a_lone_surrogate_is_refused_not_stored() -> None:
    raw = json.dumps(event(id="ev-X")).encode().replace(b"ev-X", b"ev-\\ud800")
    assert reason(raw) == "id: contains U+D800 (a lone surrogate, not a character) at character 4"


def test_a_backslash_that_escapes_nothing_hostile_is_accepted() -> None:
    assert accepted(event(data__summary="C:\\\\u0000 is a path, not a NUL")).payload


def test_binary_mode_headers_obey_the_same_rules() -> None:
    complaint = EXAMPLES["crm.complaint.opened"]
    headers = [(f"ce_{k}", str(v).encode()) for k, v in complaint.items()
               if k not in ("data", "datacontenttype")]
    headers = [(k, b"C-\x001" if k == "ce_subject" else v) for k, v in headers]
    assert reason(json.dumps(complaint["data"]).encode(), headers) == (
        "subject: contains U+0000 (NUL) at character 3")


@pytest.mark.parametrize(("time", "ok"), [
    ("0001-01-01T00:00:00Z", False),
    ("1899-12-31T23:59:59Z", False),
    ("1900-01-01T00:30:00+01:00", False),  # 1899-12-31T23:30Z
    ("1900-01-01T00:00:00Z", True),
    ("9999-12-31T23:59:59Z", False),  # the future limit
])
def test_times_lie_between_1900_and_a_day_ahead(time: str, ok: bool) -> None:
    if ok:
        assert accepted(event(time=time)).event.time == datetime(1900, 1, 1, tzinfo=UTC)
    else:
        assert "time" in reason(event(time=time))


def test_year_one_is_refused_with_the_limit_named() -> None:
    assert reason(event(time="0001-01-01T00:00:00Z")) == (
        "time: must not be before 1900-01-01T00:00:00Z (got '0001-01-01T00:00:00Z')")


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"id": "a", "id": "b"}', "not acceptable JSON: the name 'id' appears twice in an object"),
    (b'{"data": {"x": 1e400}}', "not acceptable JSON: the number 1e400 is out of range"),
    (b'{"data": {"x": Infinity}}', "not valid JSON: Infinity is not a JSON value"),
    (b'{"data": {"x": -NaN}}', "message value is not valid JSON"),
    (b'{"x": ' + b"9" * 5000 + b"}",
     "message value is not acceptable JSON: Exceeds the limit (4300 digits) for integer string"
     " conversion"),
])
def test_json_two_parsers_would_read_differently_is_refused(raw: bytes, expected: str) -> None:
    assert reason(raw).startswith(expected)


def test_a_repeated_name_inside_data_is_refused_too() -> None:
    raw = json.dumps(event()).encode().replace(b'"priority": "high"',
                                               b'"priority": "low", "priority": "urgent"')
    assert "'priority' appears twice" in reason(raw)


def test_ids_are_compared_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë-1")
    valid = accepted(event(id=decomposed, subject=decomposed,
                           data__complaint_id=decomposed))
    assert valid.event.id == valid.event.subject == "Zoë-1"
    assert valid.data_json["complaint_id"] == "Zoë-1"


def test_id_lengths_count_nfc_characters() -> None:
    accepted(event(subject=unicodedata.normalize("NFD", "é" * 64)))  # 128 code points in NFD
    assert "subject: must have at most 64 characters" in reason(event(subject="é" * 65))


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Trace", "x", "attribute 'Trace': CloudEvents attribute names are lower-case letters"),
    ("data_base64", "AAAA", "attribute 'data_base64': CloudEvents attribute names"),
    ("partner", {"nested": 1}, "partner: an extension attribute must be a string"),
    ("partner", "a\nb", "partner: contains U+000A (newline) at character 2"),
    ("partner", "x" * 2001, "partner: must have at most 2000 characters"),
])
def test_extension_attributes_follow_cloudevents(name: str, value: Any, expected: str) -> None:
    assert reason(event(**{name: value})).startswith(expected)


def test_extension_attributes_of_cloudevents_types_pass() -> None:
    assert accepted(event(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          sequence=42, replayed=False, partnerid=None)).payload


def test_a_decoded_event_with_a_non_finite_number_is_refused() -> None:
    """What the HTTP API hands over was decoded by another parser: NaN may be in it."""
    with pytest.raises(InvalidEvent, match="must be a finite number"):
        parse_event(event(sequence=float("nan")), now=NOW, max_future=DAY)


def test_reasons_never_carry_the_characters_they_refuse() -> None:
    said = reason(event(data__priority="\x00\x01"))
    assert text_problem(said) is None
    assert printable("a\x00b\ud800") == "a\\x00b\\ud800"
