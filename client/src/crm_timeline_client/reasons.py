"""Why an event is refused, in the words the service uses in ``POST /events`` answers and
dead letters (``schemas/validation.py`` there), so a refusal reads the same either side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from crm_timeline_client.events import PATTERN_HINTS

_MAX_PROBLEMS = 3
_MAX_SHOWN = 40


class InvalidEvent(ValueError):
    """An event the service would refuse; ``reason`` says why, naming the attribute or field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


_TEXTS = {
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


def _explain(issue: Mapping[str, Any]) -> str:
    kind, ctx = issue["type"], issue.get("ctx", {})
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(ctx["pattern"], f"must match {ctx['pattern']}")
    if kind == "string_too_short":
        if ctx["min_length"] == 1:
            return "must not be empty"
        return f"must have at least {ctx['min_length']} characters"
    if kind in _TEXTS:
        return _TEXTS[kind].format(**ctx)
    return issue["msg"]


def reason(error: ValidationError, prefix: str = "") -> str:
    """``subject: must not be empty (got '')``; at most three problems, then a count."""
    issues = error.errors()
    problems = []
    for issue in issues[:_MAX_PROBLEMS]:
        where = (prefix + ".".join(str(part) for part in issue["loc"])).rstrip(".") or "event"
        if issue["type"] == "missing":
            problems.append(f"missing {'field' if prefix else 'attribute'} '{where}'")
        elif issue["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field")
        elif isinstance(issue["input"], dict | list):
            problems.append(f"{where}: {_explain(issue)}")
        else:
            problems.append(f"{where}: {_explain(issue)} (got {shown(issue['input'])})")
    more = len(issues) - _MAX_PROBLEMS
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
