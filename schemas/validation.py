"""Turning Kafka message bytes into a validated event, or a readable reason why not.

The reason goes into the dead-letter topic's ``dlq.reason`` header, where an
upstream team reads it, so it names the offending attribute or field (``subject``,
``data.amount``) and says what was wrong in a few words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.envelope import CloudEvent
from schemas.fields import JSON_MEDIA_TYPE_PATTERN, PATTERN_HINTS
from schemas.registry import EVENT_TYPES

_MAX_PROBLEMS = 3
_MAX_SHOWN = 40


class InvalidEvent(ValueError):
    """A message that is not a valid CRM event; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ValidEvent:
    """A message that passed: its envelope and its payload, typed by the event type."""

    event: CloudEvent
    payload: BaseModel

    @property
    def data_json(self) -> dict[str, Any]:
        """The payload as validated, every field included, JSON-ready (decimals as strings).

        Every field is kept so that stored facts of one type all have the same
        shape; ``crm.account.updated`` ``changes`` keeps only the fields sent,
        since there an absent field and a null (clear it) mean different things.
        """
        return self.payload.model_dump(mode="json")


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


_QUOTED_INPUT = re.compile(r" \(got .*?\)(?=; |$)")


def without_inputs(reason: str) -> str:
    """A rejection reason without the sender's values it quotes, for logs (which must not
    hold personal data): ``email: must be an e-mail address (got 'ann@x')`` loses ``(got ...)``."""
    return _QUOTED_INPUT.sub("", reason)


def _explain(issue: Mapping[str, Any]) -> str:
    """Pydantic's message for an error, shortened to what the sender must fix."""
    kind, ctx = issue["type"], issue.get("ctx", {})
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(ctx["pattern"], f"must match {ctx['pattern']}")
    if kind == "string_too_short":
        if ctx["min_length"] == 1:
            return "must not be empty"
        return f"must have at least {ctx['min_length']} characters"
    texts = {
        "string_too_long": "must have at most {max_length} characters",
        "string_type": "must be a string",
        "greater_than_equal": "must be >= {ge}",
        "less_than_equal": "must be <= {le}",
        "greater_than": "must be > {gt}",
        "less_than": "must be < {lt}",
        "int_type": "must be an integer",
        "bool_type": "must be true or false",
        "enum": "must be {expected}",
        "literal_error": "must be {expected}",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "list_type": "must be an array",
        "too_long": "must have at most {max_length} items",
        "value_error": "{error}",
    }
    if kind in texts:
        return texts[kind].format(**ctx)
    return issue["msg"]


def _reason(error: ValidationError, prefix: str = "") -> str:
    """``subject: must not be empty (got '')``; at most three problems, then a count."""
    issues = error.errors()
    problems = []
    for issue in issues[:_MAX_PROBLEMS]:
        where = prefix + ".".join(str(part) for part in issue["loc"])
        where = where.rstrip(".") or "event"
        if issue["type"] == "missing":
            problems.append(f"missing {'field' if prefix else 'attribute'} '{where}'")
        elif issue["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field")
        elif isinstance(issue["input"], dict | list):
            problems.append(f"{where}: {_explain(issue)}")
        else:
            problems.append(f"{where}: {_explain(issue)} (got {_shown(issue['input'])})")
    more = len(issues) - _MAX_PROBLEMS
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds:g} seconds"


_ABOUT_DUPLICATE = frozenset({"crm.account.merged", "crm.account.unmerged"})


def parse_event(raw: Any, *, now: datetime, max_future: timedelta) -> ValidEvent:
    """Validate a decoded CloudEvent (a dict) and its payload.

    ``now`` is the receiver's clock; an event stamped more than ``max_future``
    after it comes from a broken clock, and would sort above every real event
    of the timeline, so it is refused.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(raw, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(raw).__name__}")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None
    model = EVENT_TYPES.get(event.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event.type!r}")
    try:
        payload = model.model_validate(event.data)
    except ValidationError as error:
        raise InvalidEvent(_reason(error, prefix="data.")) from None
    ahead = event.time - now
    if ahead > max_future:
        raise InvalidEvent(
            f"time {event.time.isoformat()} is {_human(ahead)} in the future "
            f"(at most {_human(max_future)} allowed)"
        )
    if event.type in _ABOUT_DUPLICATE and payload.duplicate_customer_id == event.subject:  # type: ignore[attr-defined]
        raise InvalidEvent(
            "data.duplicate_customer_id: must differ from subject"
            " (a customer cannot merge with itself)"
        )
    return ValidEvent(event=event, payload=payload)


def _no_constant(name: str) -> Any:
    raise InvalidEvent(f"not valid JSON: {name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _json(value: bytes, what: str) -> Any:
    try:
        return _DECODER.decode(value.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"{what} is not UTF-8: {error.reason} at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise InvalidEvent(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise InvalidEvent(f"{what} is not acceptable JSON: nested too deeply") from None


def parse_structured(value: bytes, *, now: datetime, max_future: timedelta) -> ValidEvent:
    """Structured mode: the message value is the whole CloudEvent as JSON."""
    return parse_event(_json(value, "message value"), now=now, max_future=max_future)


def parse_binary(
    headers: Mapping[str, str], value: bytes, *, now: datetime, max_future: timedelta
) -> ValidEvent:
    """Binary mode (CloudEvents Kafka binding): attributes in ``ce_*`` headers, the value is
    the data, its media type in ``content-type``."""
    raw: dict[str, Any] = {
        name.removeprefix("ce_"): header
        for name, header in headers.items()
        if name.startswith("ce_")
    }
    content_type = headers.get("content-type")
    if content_type is not None:
        raw.setdefault("datacontenttype", content_type)
    media_type = raw.get("datacontenttype")
    if isinstance(media_type, str) and not re.fullmatch(JSON_MEDIA_TYPE_PATTERN, media_type):
        hint = PATTERN_HINTS[JSON_MEDIA_TYPE_PATTERN]
        raise InvalidEvent(f"datacontenttype: {hint} (got {_shown(media_type)})")
    raw["data"] = _json(value, "message value (data)")
    return parse_event(raw, now=now, max_future=max_future)


def parse_kafka_message(
    headers: Sequence[tuple[str, bytes | None]],
    value: bytes | None,
    *,
    now: datetime,
    max_future: timedelta,
) -> ValidEvent:
    """Either content mode, told apart by the ``ce_specversion`` header as the Kafka binding says.

    Only ``ce_*`` and ``content-type`` headers are decoded: others (tracing,
    a producer's own) may be binary and are none of this contract's business.
    """
    if not value:
        raise InvalidEvent("empty message: no value")
    if not any(name == "ce_specversion" for name, _ in headers):
        return parse_structured(value, now=now, max_future=max_future)
    decoded: dict[str, str] = {}
    for name, header in headers:
        if name.startswith("ce_") or name == "content-type":
            try:
                decoded[name] = (header or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidEvent(f"header {name} is not UTF-8") from None
    return parse_binary(decoded, value, now=now, max_future=max_future)
