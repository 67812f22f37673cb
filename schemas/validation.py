"""Turning Kafka message bytes into a validated event, or a readable reason why not.

The reason goes into the dead-letter topic's ``dlq.reason`` header, where an
upstream team reads it, so it names the offending attribute or field (``subject``,
``data.amount``) and says what was wrong in a few words.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.envelope import CloudEvent, Extensions, read_extensions
from schemas.fields import EARLIEST_TIME, JSON_MEDIA_TYPE_PATTERN, PATTERN_HINTS
from schemas.kafka_binding import content_mode, unframe
from schemas.refusals import (
    CONTENT_MODE,
    EMPTY,
    FUTURE_TIME,
    HEADER,
    HOSTILE_TEXT,
    NOT_JSON,
    UNKNOWN_TYPE,
    InvalidEvent,
)
from schemas.registry import EVENT_TYPES
from schemas.text import nfc_strings, text_problem

_MAX_PROBLEMS = 3
_MAX_SHOWN = 40


__all__ = ["InvalidEvent", "ValidEvent", "decode_json", "parse_event", "parse_kafka_message"]


@dataclass(frozen=True)
class ValidEvent:
    """A message that passed: its envelope and its payload, typed by the event type; its
    extension attributes, and the schema id of a schema registry's frame if it had one."""

    event: CloudEvent
    payload: BaseModel
    extensions: Extensions = field(default_factory=dict)
    schema_id: int | None = None

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


def _where(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


#: The escapes by which JSON text can carry a forbidden character (a literal backslash
#: before such letters looks alike: the walk then finds nothing).
_SUSPECT_ESCAPE = re.compile(rb"\\(u00[01]|u[dD][89a-fA-F]|[bfr])")
#: How a forbidden character shows in JSON text as ``json.dumps(ensure_ascii=False)``
#: writes it: an escape, or a lone surrogate as it is.
_SUSPECT_JSON_TEXT = re.compile(r"\\(u00[01]|[bfr])|[\ud800-\udfff]")


def hostile_value(raw: Any) -> str | None:
    """Why some part of a decoded event can never be stored (None: nothing is), checked
    before the schema so that every attribute, payload string, object key and extension
    attribute, however deep, obeys ``schemas.text``'s free-text rules (single-line fields
    refuse tab and newline through their schema patterns), and numbers are finite.

    Most events are clean: the standard library's encoder writes an event in a few
    microseconds, and only if its text shows a suspect escape or character, or it
    cannot be written, is the event walked to say where."""
    try:
        if not _SUSPECT_JSON_TEXT.search(json.dumps(raw, ensure_ascii=False, allow_nan=False)):
            return None
    except (ValueError, TypeError, RecursionError):
        pass
    return _first_hostile(raw)


def _first_hostile(raw: Any) -> str | None:
    pending: list[tuple[str, Any]] = [("", raw)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if problem := text_problem(value, free_text=True):
                return f"{path or 'event'}: {problem}"
        elif isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, child in items:
                if isinstance(key, str) and (problem := text_problem(key)):
                    return f"{_where(path, key)}: the name {problem}"
                children.append((_where(path, key), child))
            pending += reversed(children)  # report the first problem in document order
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{path or 'event'}: must be a finite number (got {value})"
    return None


def parse_event(raw: Any, *, now: datetime, max_future: timedelta,
                text_checked: bool = False, ascii_only: bool = False) -> ValidEvent:
    """Validate a decoded CloudEvent (a dict) and its payload.

    ``now`` is the receiver's clock; an event stamped more than ``max_future``
    after it comes from a broken clock, and would sort above every real event
    of the timeline, so it is refused. Text is taken in NFC. ``text_checked``: the
    caller knows that no string in ``raw`` holds a character ``hostile_value`` looks
    for; ``ascii_only``: that every string is ASCII (already NFC).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(raw, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(raw).__name__}")
    if not text_checked and (problem := hostile_value(raw)):
        raise InvalidEvent(problem, HOSTILE_TEXT)
    if not ascii_only:
        raw = nfc_strings(raw)
    extensions = read_extensions(raw)
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None
    model = EVENT_TYPES.get(event.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event.type!r}", UNKNOWN_TYPE)
    try:
        payload = model.model_validate(event.data)
    except ValidationError as error:
        raise InvalidEvent(_reason(error, prefix="data.")) from None
    if event.time < EARLIEST_TIME:  # here, not in the type: one comparison, no validator call
        raise InvalidEvent(f"time: must not be before 1900-01-01T00:00:00Z "
                           f"(got {_shown(raw['time'])})")
    ahead = event.time - now
    if ahead > max_future:
        raise InvalidEvent(
            f"time {event.time.isoformat()} is {_human(ahead)} in the future "
            f"(at most {_human(max_future)} allowed)", FUTURE_TIME
        )
    if event.type in _ABOUT_DUPLICATE and payload.duplicate_customer_id == event.subject:  # type: ignore[attr-defined]
        raise InvalidEvent(
            "data.duplicate_customer_id: must differ from subject"
            " (a customer cannot merge with itself)"
        )
    return ValidEvent(event=event, payload=payload, extensions=extensions)


def _no_constant(name: str) -> Any:
    raise InvalidEvent(f"not valid JSON: {name} is not a JSON value", NOT_JSON)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidEvent(f"not acceptable JSON: the number {text[:40]} is out of range", NOT_JSON)
    return number


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON leaves a repeated name's meaning to each parser (first wins, last wins, error):
    an event two readers would read differently is refused."""
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        seen: set[str] = set()
        repeated = next(name for name, _ in pairs if name in seen or seen.add(name))
        raise InvalidEvent(f"not acceptable JSON: the name {repeated!r} appears twice in an object",
                           NOT_JSON)
    return decoded


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite,
                            object_pairs_hook=_unique_names)


def decode_json(value: bytes, what: str = "message value") -> Any:
    """JSON as this service reads it from anyone: UTF-8, no NaN or Infinity, no number
    out of range, no name twice in an object; InvalidEvent says what is wrong."""
    try:
        return _DECODER.decode(value.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"{what} is not UTF-8: {error.reason} at byte {error.start}",
                           NOT_JSON) from None
    except InvalidEvent:
        raise
    except json.JSONDecodeError as error:
        raise InvalidEvent(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            NOT_JSON) from None
    except RecursionError:
        raise InvalidEvent(f"{what} is not acceptable JSON: nested too deeply", NOT_JSON) from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise InvalidEvent(f"{what} is not acceptable JSON: {str(error).split(':')[0]}",
                           NOT_JSON) from None


def parse_structured(value: bytes, *, now: datetime, max_future: timedelta,
                     what: str = "message value") -> ValidEvent:
    """Structured mode: the message value is the whole CloudEvent as JSON.

    JSON text holds control characters and lone surrogates only as escapes (and
    other non-ASCII characters either raw or as ``\\u`` escapes), so the bytes tell
    which checks a message needs; most need none."""
    return parse_event(decode_json(value, what), now=now, max_future=max_future,
                       text_checked=b"\\" not in value or not _SUSPECT_ESCAPE.search(value),
                       ascii_only=value.isascii() and b"\\u" not in value)


def parse_binary(
    headers: Mapping[str, str], value: bytes, *, now: datetime, max_future: timedelta,
    what: str = "message value (data)",
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
    _check_media_type(raw.get("datacontenttype"))
    raw["data"] = decode_json(value, what)
    return parse_event(raw, now=now, max_future=max_future)


def _check_media_type(media_type: str | None) -> None:
    """Binary mode's data must be JSON: say so before reading it (an Avro value framed by
    a schema registry looks framed JSON until then)."""
    if media_type is not None and not re.fullmatch(JSON_MEDIA_TYPE_PATTERN, media_type):
        hint = PATTERN_HINTS[JSON_MEDIA_TYPE_PATTERN]
        raise InvalidEvent(f"datacontenttype: {hint} (got {_shown(media_type)})", CONTENT_MODE)


def parse_kafka_message(
    headers: Sequence[tuple[str, bytes | None]],
    value: bytes | None,
    *,
    now: datetime,
    max_future: timedelta,
) -> ValidEvent:
    """Either content mode, told apart by ``content-type`` as the Kafka binding says
    (``schemas.kafka_binding``), the value taken out of a schema registry's frame first.

    Only ``ce_*`` and ``content-type`` headers are decoded: others (tracing,
    a producer's own) may be binary and are none of this contract's business.
    """
    if not value:
        raise InvalidEvent("empty message: no value", EMPTY)
    if content_mode(headers) == "structured":
        value, schema_id = unframe(value)
        valid = parse_structured(value, now=now, max_future=max_future,
                                 what=f"message value{_framed(schema_id)}")
    else:
        decoded: dict[str, str] = {}
        for name, header in headers:
            if name.startswith("ce_") or name == "content-type":
                try:
                    decoded[name] = (header or b"").decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidEvent(f"header {name} is not UTF-8", HEADER) from None
        _check_media_type(decoded.get("ce_datacontenttype", decoded.get("content-type")))
        value, schema_id = unframe(value)
        valid = parse_binary(decoded, value, now=now, max_future=max_future,
                             what=f"message value (data){_framed(schema_id)}")
    return valid if schema_id is None else replace(valid, schema_id=schema_id)


def _framed(schema_id: int | None) -> str:
    return "" if schema_id is None else f" after its schema-registry frame (schema id {schema_id})"
