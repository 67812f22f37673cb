"""Cross-field rules a payload's JSON Schema states (``if``/``then``, ``anyOf``,
``minProperties``), as checks the generated models run after their fields. ``reason`` is
the rule's ``description`` in the schema: the words the service refuses it with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Rule(Protocol):
    def problem(self, payload: Any) -> str | None:
        """Why ``payload`` breaks the rule (None: it does not)."""
        ...


@dataclass(frozen=True)
class OnlyWith:
    """``field``, when given and not null, needs ``needs`` to be ``value``."""

    field: str
    needs: str
    value: str
    reason: str

    def problem(self, payload: Any) -> str | None:
        if getattr(payload, self.field) is None or getattr(payload, self.needs) == self.value:
            return None
        return self.reason


@dataclass(frozen=True)
class OneOf:
    """At least one of ``fields`` is given."""

    fields: tuple[str, ...]
    reason: str

    def problem(self, payload: Any) -> str | None:
        if any(getattr(payload, field) is not None for field in self.fields):
            return None
        return self.reason


@dataclass(frozen=True)
class MinFields:
    """At least ``count`` fields are given (null counts: it clears a field)."""

    count: int
    reason: str

    def problem(self, payload: Any) -> str | None:
        if len(payload.model_fields_set) >= self.count:
            return None
        return self.reason
