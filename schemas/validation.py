"""Turning Kafka message bytes into a validated event, or a readable reason why not.

The reason goes into the dead-letter topic's ``dlq.reason`` header, so it names
the offending attribute or field and what was wrong with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.envelope import CloudEvent
from schemas.registry import EVENT_TYPES


class InvalidEvent(ValueError):
    """A message that is not a valid CRM event; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ValidEvent:
    event: CloudEvent
    payload: BaseModel

    @property
    def data_json(self) -> dict[str, Any]:
        """The payload as validated, JSON-ready (decimals as strings, unset fields left out)."""
        return self.payload.model_dump(mode="json", exclude_unset=True)


def _reason(error: ValidationError, prefix: str = "") -> str:
    problems = []
    for issue in error.errors()[:3]:
        where = ".".join(str(part) for part in issue["loc"]) or "event"
        message = issue["msg"]
        if issue["type"] == "missing":
            problems.append(f"missing attribute '{prefix}{where}'")
            continue
        shown = repr(issue.get("input"))
        problems.append(f"{prefix}{where}: {message} (got {shown[:60]})")
    more = len(error.errors()) - 3
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def parse_event(raw: Any, *, now: datetime, max_future: timedelta) -> ValidEvent:
    """Validate a decoded CloudEvent (a dict) and its payload."""
    if not isinstance(raw, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(raw).__name__}")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None
    model = EVENT_TYPES.get(event.type)
    if model is None:
        raise InvalidEvent(f"unknown event type '{event.type}'")
    try:
        payload = model.model_validate(event.data)
    except ValidationError as error:
        raise InvalidEvent(_reason(error, prefix="data.")) from None
    ahead = event.time - now
    if ahead > max_future:
        raise InvalidEvent(
            f"time {event.time.isoformat()} is {ahead.total_seconds() / 3600:.1f} hours "
            "in the future"
        )
    duplicate = getattr(payload, "duplicate_customer_id", None)
    if duplicate is not None and duplicate == event.subject:
        raise InvalidEvent("data.duplicate_customer_id: a customer cannot be merged with itself")
    return ValidEvent(event=event, payload=payload)


def _json(value: bytes, what: str) -> Any:
    try:
        return json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"{what} is not UTF-8: {error.reason} at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise InvalidEvent(f"{what} is not valid JSON: {error}") from None


def parse_structured(value: bytes, *, now: datetime, max_future: timedelta) -> ValidEvent:
    """Structured mode: the message value is the whole CloudEvent as JSON."""
    return parse_event(_json(value, "message value"), now=now, max_future=max_future)


def parse_binary(
    headers: dict[str, str], value: bytes, *, now: datetime, max_future: timedelta
) -> ValidEvent:
    """Binary mode: attributes in ``ce_*`` headers, the value is the data."""
    raw: dict[str, Any] = {
        name[3:]: header for name, header in headers.items() if name.startswith("ce_")
    }
    raw["data"] = _json(value, "message value (data)")
    if "content-type" in headers:
        raw.setdefault("datacontenttype", headers["content-type"])
    return parse_event(raw, now=now, max_future=max_future)


def parse_kafka_message(
    headers: list[tuple[str, bytes]],
    value: bytes | None,
    *,
    now: datetime,
    max_future: timedelta,
) -> ValidEvent:
    """Either mode, told apart by the ``ce_specversion`` header (CloudEvents Kafka binding)."""
    if not value:
        raise InvalidEvent("empty message: no value")
    names = {name for name, _ in headers}
    if "ce_specversion" not in names:
        return parse_structured(value, now=now, max_future=max_future)
    try:
        decoded = {name: header.decode("utf-8") for name, header in headers}
    except UnicodeDecodeError:
        raise InvalidEvent("a ce_* header is not UTF-8") from None
    return parse_binary(decoded, value, now=now, max_future=max_future)
