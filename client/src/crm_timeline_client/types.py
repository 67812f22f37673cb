"""The field types and base classes the generated models (``events.py``) are made of.

Money and times are checked with the service's own rules and words (``schemas/fields.py``
of the service): amounts are decimal strings, never JSON numbers, and times carry their
UTC offset. A test in the service's repository compares these patterns with its own.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    Strict,
    model_validator,
)

from crm_timeline_client.rules import Rule

MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_LOCAL_DATE_TIME = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
)
RFC3339_PATTERN = rf"^{_LOCAL_DATE_TIME}([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
_MONEY = re.compile(MONEY_PATTERN)
_RFC3339 = re.compile(RFC3339_PATTERN)


def _money(value: Any) -> Decimal:
    """A JSON number would pass through binary floating point: amounts are decimal strings."""
    if isinstance(value, Decimal) and value.is_finite():
        value = f"{value:f}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be a decimal string such as '129.90', not a JSON number")
    if not isinstance(value, str):
        raise ValueError("must be a decimal string such as '129.90'")
    if _MONEY.fullmatch(value):
        return Decimal(value)
    if re.fullmatch(r"-[0-9]+(\.[0-9]+)?", value):
        raise ValueError("must be >= 0")
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", value):
        raise ValueError("must have at most 2 decimal places")
    if re.fullmatch(r"[0-9]{13,}(\.[0-9]+)?", value):
        raise ValueError("must have at most 12 digits before the point")
    raise ValueError("must be a decimal string such as '129.90'")


def _rfc3339(value: Any) -> Any:
    """A naive time is ambiguous by up to a day: the offset is required, for datetimes too."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("has no UTC offset; add 'Z' or one such as '+01:00' (RFC 3339)")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string such as '2026-11-20T14:05:00+01:00'")
    if _RFC3339.fullmatch(value):
        return value
    if re.fullmatch(_LOCAL_DATE_TIME, value):
        raise ValueError("has no UTC offset; add 'Z' or one such as '+01:00' (RFC 3339)")
    raise ValueError("must be an RFC 3339 date-time such as '2026-11-20T14:05:00+01:00'")


#: A decimal amount, sent as a string such as ``"129.90"``.
Money = Annotated[Decimal, BeforeValidator(_money),
                  PlainSerializer(lambda amount: f"{amount:f}", return_type=str)]
#: A moment with its UTC offset, sent as RFC 3339.
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339),
                    PlainSerializer(lambda moment: moment.isoformat(), return_type=str)]
#: JSON integers and booleans only: "245" or "yes" are refused, as the schema refuses them.
StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]


class Payload(BaseModel):
    """Base of every event payload: unknown fields are refused (the service dead-letters
    them), and the cross-field rules of its JSON Schema (``rules``) are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _obeys_its_rules(self) -> Payload:
        for rule in self.rules:
            if (problem := rule.problem(self)) is not None:
                raise ValueError(problem)
        return self


class Envelope(BaseModel):
    """Base of the CloudEvent envelope: extension attributes (``traceparent``, a partner's
    own) are kept and sent, as CloudEvents allows."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @property
    def extensions(self) -> dict[str, Any]:
        """The extension attributes, by name."""
        return dict(self.model_extra or {})

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready wire form (structured mode): absent attributes left out,
        the payload exactly as given (an explicit null there means 'clear it')."""
        return {name: value for name, value in self.model_dump(mode="json").items()
                if value is not None}
