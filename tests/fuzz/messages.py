"""Messages nobody imagined: hypothesis strategies for what an upstream system might send.

Every generated message carries a unique mark (its event id when it has one), so a
checker can tell, for each message sent, whether it was stored or dead-lettered.
Kinds:

* ``random bytes`` and ``random JSON``: anything at all;
* ``valid``: a well-formed event of any type;
* ``mutated: WHAT``: a valid event with one attribute or payload field (at any depth)
  changed into an edge value: control characters, lone surrogates, huge and tiny
  numbers, extreme dates, long strings, wrong types, a name given twice, a field
  removed or unknown, decomposed Unicode;
* ``binary mode``: a valid event as ``ce_*`` headers with one header mangled;
* ``structured beside ce headers``: a valid event in the value, ``content-type``
  ``application/cloudevents+json``, and ``ce_*`` headers of another, spoiled event
  beside it (the Kafka binding says they are not read: it must be stored);
* ``binary, no content-type``: a valid event as ``ce_*`` headers alone;
* ``framed``: a valid event behind a schema registry's frame (0x00, a random schema
  id), sometimes cut short;
* ``extensions``: a valid event with extension attributes of any name and value.

``surely_hostile`` gives a fixed cycle of messages that must be dead-lettered, for
the fault-injection run's poison mix.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from schemas.examples import EXAMPLES

EVENT_TYPES = sorted(EXAMPLES)
CUSTOMERS = [f"C-{n}" for n in range(40)]


@dataclass(frozen=True)
class Message:
    """One Kafka message as sent: ``mark`` is unique per message; ``event_id`` the id it
    carries if it claims one (for the checker)."""

    kind: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())
    event_type: str | None = None
    event_id: str | None = None


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def valid_event(event_type: str, subject: str, event_id: str, hours_ago: float) -> dict[str, Any]:
    """A valid CloudEvent of ``event_type`` built from its example; it is never about its
    own subject (a merge names another customer)."""
    event = copy.deepcopy(EXAMPLES[event_type])
    event.update(id=event_id, subject=subject,
                 time=_time(datetime.now(UTC) - timedelta(hours=hours_ago)))
    if "duplicate_customer_id" in event["data"]:
        event["data"]["duplicate_customer_id"] = f"{subject}-dup"
    return event


# --- edge values -----------------------------------------------------------------------

_CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F)
_EDGE_NUMBERS = [0, -1, 2 ** 31, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, -(10 ** 30), 1e308, -1e308,
                 5e-324, 0.1, -0.0, 1.5]
_EDGE_DATES = ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1900-01-01T00:00:00Z",
               "1970-01-01T00:00:00+23:59", "9999-12-31T23:59:59Z", "2026-02-30T10:00:00Z",
               "2026-06-30T23:59:60Z", "2026-11-20T25:00:00Z", "2026-11-20T10:00:00",
               "2026-11-20", "20261120T100000Z", "2026-11-20T10:00:00.1234567891Z",
               "2026-11-20T10:00:00-24:00", "+002026-11-20T10:00:00Z"]
_WRONG_TYPES: list[Any] = [None, True, False, [], {}, [1, 2], {"a": 1}, 1.5, "", " ", "null"]


def _inserted(text: str) -> st.SearchStrategy[Callable[[str], str]]:
    """A way to put ``text`` somewhere into a string."""
    return st.sampled_from([lambda s: text + s, lambda s: s + text,
                            lambda s: s[: len(s) // 2] + text + s[len(s) // 2:]])


@st.composite
def _edge_value(draw: st.DrawFn, original: Any) -> tuple[str, Any]:
    """(what was done, the new value) for a field holding ``original``."""
    as_text = original if isinstance(original, str) else json.dumps(original)
    choice = draw(st.sampled_from(["control characters", "lone surrogate", "number", "date",
                                   "long string", "wrong type", "decomposed unicode",
                                   "unicode text", "empty"]))
    if choice == "control characters":
        where = draw(_inserted(draw(st.text(_CONTROL, min_size=1, max_size=3))))
        return choice, where(as_text)
    if choice == "lone surrogate":
        where = draw(_inserted(chr(draw(st.integers(0xD800, 0xDFFF)))))
        return choice, where(as_text)
    if choice == "number":
        return choice, draw(st.sampled_from(_EDGE_NUMBERS) | st.integers() | st.floats())
    if choice == "date":
        return choice, draw(st.sampled_from(_EDGE_DATES) | st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
            timezones=st.just(UTC)).map(lambda d: d.isoformat()))
    if choice == "long string":
        return choice, as_text + "x" * draw(st.sampled_from([64, 65, 100, 201, 2001, 70_000]))
    if choice == "wrong type":
        return choice, draw(st.sampled_from(_WRONG_TYPES))
    if choice == "decomposed unicode":
        return choice, unicodedata.normalize("NFD", as_text + "é" * draw(st.integers(1, 70)))
    if choice == "unicode text":
        return choice, as_text + draw(st.text(min_size=1, max_size=20))
    return choice, ""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: attribute names, data fields, items of lists."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for part in path[:-1]:
        value = value[part]
    value[path[-1]] = new


def _kept_unique(path: tuple[Any, ...], new: Any, event_id: str) -> Any:
    """A new id still names its message: text ids keep the unique mark in them."""
    if path == ("id",) and isinstance(new, str):
        return event_id + new
    return new


# --- messages --------------------------------------------------------------------------


@st.composite
def _valid(draw: st.DrawFn, n: int) -> tuple[str, str, dict[str, Any]]:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    subject = draw(st.sampled_from(CUSTOMERS))
    event = valid_event(event_type, subject, f"fuzz-{n}", draw(st.floats(0, 24 * 400)))
    return event_type, subject, event


@st.composite
def messages(draw: st.DrawFn, n: int) -> Message:
    """The ``n``-th message of a run: of any kind, its mark ``fuzz-n``."""
    kind = draw(st.sampled_from(["random bytes", "random JSON", "empty", "valid", "mutated",
                                 "mutated", "mutated", "mutated", "duplicate name",
                                 "binary mode", "structured beside ce headers",
                                 "binary, no content-type", "framed", "extensions"]))
    key = draw(st.sampled_from(CUSTOMERS)).encode()
    mark = f"fuzz-{n}"
    if kind == "empty":
        return Message(kind, key, draw(st.sampled_from([None, b""])),
                       ((mark, b""),))  # a header names it: an empty value cannot
    if kind == "random bytes":
        return Message(kind, key, mark.encode() + draw(st.binary(max_size=300)))
    if kind == "random JSON":
        value = draw(st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
            | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12))
        return Message(kind, key, json.dumps({"mark": mark, "body": value}).encode())
    event_type, subject, event = draw(_valid(n))
    key = subject.encode()
    if kind == "valid":
        return Message(kind, key, json.dumps(event).encode(), event_type=event_type,
                       event_id=event["id"])
    if kind == "duplicate name":
        path = draw(st.sampled_from([p for p in _paths(event) if isinstance(p[-1], str)]))
        text = json.dumps(event)
        name = json.dumps(path[-1])
        repeated = text.replace(f"{name}: ", f"{name}: {json.dumps(draw(st.sampled_from(_WRONG_TYPES)))}, {name}: ", 1)
        return Message(kind, key, repeated.encode(), event_type=event_type, event_id=event["id"])
    if kind == "structured beside ce headers":
        stale = dict(event, id=mark + "-stale", subject=draw(st.text(max_size=3)))
        headers = (*_ce_headers(stale),
                   ("content-type", draw(st.sampled_from([b"application/cloudevents+json",
                                                          b"Application/CloudEvents+JSON; charset=utf-8"]))))
        return Message(kind, key, json.dumps(event).encode(), headers, event_type, event["id"])
    if kind == "binary, no content-type":
        return Message(kind, key, json.dumps(event["data"]).encode(), _ce_headers(event),
                       event_type, event["id"])
    if kind == "framed":
        schema_id = draw(st.binary(min_size=4, max_size=4))
        cut = draw(st.sampled_from([None, None, None, 0, 1, 3]))
        value = b"\x00" + schema_id + json.dumps(event).encode()
        return Message(f"framed{'' if cut is None else ' cut short'}", key,
                       value if cut is None else value[:1 + cut], (), event_type, event["id"])
    if kind == "extensions":
        names = st.text("abcxyz019AZ-_.\u00e9\x00", min_size=0, max_size=24)
        values = (st.text(max_size=30) | st.integers(-(2 ** 40), 2 ** 40) | st.booleans()
                  | st.none() | st.floats(allow_nan=False) | st.just({"nested": 1}))
        extra = draw(st.dictionaries(names, values, min_size=1, max_size=20))
        spoilt = {**extra, **event}  # the event's own attributes stay as they are
        return Message(kind, key, json.dumps(spoilt).encode(), (), event_type, event["id"])
    if kind == "binary mode":
        headers = [(f"ce_{name}", str(value).encode()) for name, value in event.items()
                   if name not in ("data", "datacontenttype")]
        headers.append(("content-type", b"application/json"))
        index = draw(st.integers(0, len(headers) - 1))
        name, value = headers[index]
        mangled = draw(st.sampled_from(["bytes", "control", "drop"]))
        if mangled == "bytes":
            headers[index] = (name, draw(st.binary(max_size=20)))
        elif mangled == "control":
            headers[index] = (name, value + draw(st.text(_CONTROL, min_size=1, max_size=2)).encode())
        else:
            del headers[index]
        event_id: str | None = event["id"]
        if name == "ce_id":
            event_id = None
            if mangled != "drop":
                headers[index] = (name, mark.encode() + headers[index][1])
                event_id = headers[index][1].decode("utf-8", "ignore")
        return Message(f"binary mode: {mangled} {name}", key, json.dumps(event["data"]).encode(),
                       tuple(headers), event_type, event_id)
    # mutated: one place changed, removed, or an unknown one added
    action = draw(st.sampled_from(["change", "change", "change", "remove", "add"]))
    path = draw(st.sampled_from(_paths(event)))
    if action == "remove":
        target = _get(event, path[:-1]) if len(path) > 1 else event
        del target[path[-1]]
        what = "field removed"
    elif action == "add":
        parent = path[:-1] if isinstance(_get(event, path[:-1]) if path[:-1] else event, dict) \
            else path[:-2]
        target = _get(event, parent) if parent else event
        if isinstance(target, dict):
            target[draw(st.sampled_from(["mood", "Extra", "x\u0000y", "traceparent",
                                         "data_base64"]))] = draw(_edge_value("x"))[1]
        what = "field added"
    else:
        what, new = draw(_edge_value(_get(event, path)))
        _set(event, path, _kept_unique(path, new, event["id"]))
    event_id = event.get("id") if isinstance(event.get("id"), str) else None
    return Message(f"mutated: {what}", key, json.dumps(event).encode(), event_type=event_type,
                   event_id=event_id)


def _ce_headers(event: dict[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """Binary mode's attributes of ``event``, without ``content-type``."""
    return tuple((f"ce_{name}", str(value).encode()) for name, value in event.items()
                 if name not in ("data", "datacontenttype"))


def marker(n: int, key: bytes) -> Message:
    """A valid contact on ``key`` after message ``n``: stored only if the partition passed it."""
    subject = key.decode("utf-8", "replace") if key else "C-0"
    event = valid_event("crm.contact.logged", subject, f"marker-{n}", 1)
    return Message("marker", key, json.dumps(event).encode(), event_type="crm.contact.logged",
                   event_id=event["id"])


# --- a fixed cycle of messages that must be dead-lettered ------------------------------

_HOSTILE: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("NUL in id", lambda e: e.update(id=e["id"] + "\x00")),
    ("NUL in subject", lambda e: e.update(subject="C-\x001")),
    ("NUL in source", lambda e: e.update(source="shop\x00")),
    ("NUL in free text", lambda e: e["data"].update(summary="late\x00")),
    ("year 0001", lambda e: e.update(time="0001-01-01T00:00:00Z")),
    ("escape in a name", lambda e: e["data"].update(category="deli\x1bvery")),
    ("newline in an id", lambda e: e["data"].update(complaint_id="K-1\nK-2")),
    ("lone surrogate", lambda e: e["data"].update(summary="\ud800")),
    ("not an attribute name", lambda e: e.update(Trace="x")),
    ("object as extension", lambda e: e.update(partner={"nested": True})),
]


def surely_hostile(n: int, mark: str) -> tuple[str, bytes]:
    """The ``n``-th of a cycle of complaints that must be dead-lettered, marked ``mark``;
    (kind, message value)."""
    kind, spoil = _HOSTILE[n % len(_HOSTILE)]
    event = valid_event("crm.complaint.opened", "C-1", mark, 1)
    spoil(event)
    return f"hostile: {kind}", json.dumps(event).encode()
