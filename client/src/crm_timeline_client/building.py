"""Building and checking CloudEvents as the service checks them, before they travel.

The generated models (``events.py``) carry the JSON Schemas' rules; this module adds the
few the service checks beyond them, kept by hand and compared with the service's in its
tests: extension attributes' names and values, Unicode NFC for text, times not before
1900, a merge or unmerge not naming the customer itself.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crm_timeline_client.events import EVENT_TYPES, CloudEvent
from crm_timeline_client.reasons import InvalidEvent, reason, shown

_ATTRIBUTES = frozenset(CloudEvent.model_fields)
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
_FORBIDDEN_IN_LINE = re.compile(r"[\x00-\x1f\ud800-\udfff]")
MAX_EXTENSION_VALUE = 2000
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
_ABOUT_DUPLICATE = frozenset({"crm.account.merged", "crm.account.unmerged"})


def extension_problem(raw: Mapping[str, Any]) -> str | None:
    """Why an extension attribute breaks CloudEvents' rules (None: none does)."""
    for name, value in raw.items():
        if name in _ATTRIBUTES:
            continue
        if not _EXTENSION_NAME.fullmatch(name):
            return (f"attribute {name[:40]!r}: CloudEvents attribute names are lower-case "
                    "letters a-z and digits 0-9")
        if value is None or isinstance(value, bool | int):
            continue
        if not isinstance(value, str):
            return f"{name}: an extension attribute must be a string, an integer or a boolean"
        if len(value) > MAX_EXTENSION_VALUE:
            return f"{name}: must have at most {MAX_EXTENSION_VALUE} characters"
        if found := _FORBIDDEN_IN_LINE.search(value):
            return f"{name}: contains U+{ord(found.group()):04X} at character {found.start() + 1}"
    return None


def _nfc(value: Any) -> Any:
    """Ids are compared in Unicode NFC by the service: send them composed."""
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {key: _nfc(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(child) for child in value]
    return value


def validate(raw: Mapping[str, Any]) -> CloudEvent:
    """A CloudEvent in wire form (a dict as it would be sent) checked as ``POST /events``
    and the Kafka consumer check it; ``InvalidEvent`` with the service's reason if not.
    The event returned carries its payload as validated, JSON-ready."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"expected a JSON object, got {type(raw).__name__}")
    if problem := extension_problem(raw):
        raise InvalidEvent(problem)
    raw = _nfc(raw)
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent(reason(error)) from None
    model = EVENT_TYPES.get(event.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event.type!r}")
    try:
        payload = model.model_validate(event.data)
    except ValidationError as error:
        raise InvalidEvent(reason(error, prefix="data.")) from None
    if event.time < EARLIEST_TIME:
        raise InvalidEvent(f"time: must not be before 1900-01-01T00:00:00Z (got {shown(raw['time'])})")
    if event.type in _ABOUT_DUPLICATE and payload.duplicate_customer_id == event.subject:  # type: ignore[attr-defined]
        raise InvalidEvent("data.duplicate_customer_id: must differ from subject"
                           " (a customer cannot merge with itself)")
    return event.model_copy(update={"data": payload.model_dump(mode="json", exclude_unset=True)})


def build_event(event_type: str, customer_id: str, *, source: str, data: Mapping[str, Any],
                event_id: str | None = None, time: datetime | str | None = None,
                extensions: Mapping[str, str | int | bool] | None = None) -> CloudEvent:
    """A validated CloudEvent of ``event_type`` about ``customer_id``: a random id (the
    idempotency key: keep it to send the same event again) and now unless given; payload
    fields left None are not sent."""
    clash = set(extensions or {}) & _ATTRIBUTES
    if clash:
        raise InvalidEvent(f"extension {sorted(clash)[0]!r} is a CloudEvents attribute")
    raw = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()) if event_id is None else event_id,
        "source": source,
        "type": event_type,
        "subject": customer_id,
        "time": datetime.now(UTC) if time is None else time,
        "datacontenttype": "application/json",
        "data": {name: value for name, value in data.items() if value is not None},
        **(extensions or {}),
    }
    return validate(raw)
