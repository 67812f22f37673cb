"""The rule language of segments: JSON conditions over a customer's 360 fields.

A rule is a condition; a condition is either a combination or a test of one field::

    {"all": [condition, ...]}        every condition holds (an empty list: everyone)
    {"any": [condition, ...]}        at least one holds
    {"not": condition}               it does not hold
    {"field": NAME, OPERATOR: VALUE} the field's value compared with VALUE

Operators: ``eq``, ``ne``, ``in`` / ``not_in`` (a list), ``gt``, ``gte``, ``lt``, ``lte``
(numbers), and ``exists`` (true: the field has a value; false: it has none). A field
without a value (no order yet, no churn model) fails every comparison but ``ne``,
``not_in`` and ``exists: false``. Example, "gold or platinum, likely to churn, may be
e-mailed, no order in 60 days"::

    {"all": [{"field": "loyalty.tier", "in": ["gold", "platinum"]},
             {"field": "churn.risk", "gt": 0.6},
             {"field": "consents.email", "eq": true},
             {"field": "days_since_last_order", "gte": 60}]}

The style is Apache Unomi's conditions, made smaller; a rule is data, parsed and
checked against ``FIELDS`` when defined (errors name the place, ``all[2].field``),
never evaluated as code. Fields that move with the clock (``days_since_*``,
``churn.risk``) make a segment *timed*: its members are judged again as time passes,
not only when a fact arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Customer = Mapping[str, Any]


@dataclass(frozen=True)
class Field:
    kind: str  # "number", "text", "bool"
    description: str
    timed: bool = False


CONSENT_CHANNELS = ("email", "sms", "phone", "post")

#: What a rule may test, with what it means. Values come from ``customer_fields``.
FIELDS: dict[str, Field] = {
    "status": Field("text", "active, erased, ..."),
    "acquisition_channel": Field("text", "the channel that brought the customer"),
    "country": Field("text", "ISO country code of the profile"),
    "profile.segment": Field("text", "the profile's own segment (consumer, business, ...)"),
    "language": Field("text", "the profile's language"),
    "owner_id": Field("text", "the agent who owns the customer"),
    "loyalty.score": Field("number", "loyalty score 0..100 (as of the 360's last fact)"),
    "loyalty.tier": Field("text", "bronze, silver, gold or platinum"),
    "churn.risk": Field("number", "chance of no order in the next 90 days, now (latest model)",
                        timed=True),
    "orders.count": Field("number", "orders placed, cancelled ones left out"),
    "complaints.open": Field("number", "complaints open"),
    "complaints.total": Field("number", "complaints ever"),
    "complaints.sla_breaches": Field("number", "SLA deadlines missed"),
    "contacts.total": Field("number", "contacts logged"),
    "completeness": Field("number", "share of the expected fields the record holds, 0..1"),
    "days_since_last_order": Field("number", "whole days since the last order, now", timed=True),
    "days_since_last_contact": Field("number", "whole days since the last contact, now",
                                     timed=True),
    "flags.contact_fatigue": Field("bool", "contacted too often lately"),
    "flags.open_sla_breach": Field("bool", "an open complaint past its deadline"),
    **{f"consents.{channel}": Field("bool", f"consent to {channel} (no answer: no value)")
       for channel in CONSENT_CHANNELS},
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}
OPERATORS = ("eq", "ne", "in", "not_in", *_COMPARE, "exists")
#: How deep conditions may nest, and how many a rule may hold: rules come over HTTP.
MAX_DEPTH, MAX_CONDITIONS = 10, 200


#: A segment's name: in URLs and topics as it is (and not "fields", the list of fields).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class RuleError(ValueError):
    """A rule that cannot be used; the message says where (``all[1].in``) and why."""


@dataclass(frozen=True)
class Rule:
    """A checked rule: evaluate it with ``matches``, say why with ``explain``."""

    condition: dict[str, Any]
    timed: bool

    def matches(self, customer: Customer) -> bool:
        return _holds(self.condition, customer)

    def explain(self, customer: Customer) -> list[str]:
        """The field tests, each with whether it holds for ``customer``, in words."""
        return [f"{'yes' if _holds(test, customer) else 'no'}: {_words(test, customer)}"
                for test in _tests(self.condition)]

    def fields(self) -> set[str]:
        return {test["field"] for test in _tests(self.condition)}


def check_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name) or name == "fields":
        raise RuleError(f"segment name {name!r}: lowercase letters, digits, - and _, at most "
                        "64, not 'fields'")
    return name


def parse_rule(condition: Any) -> Rule:
    """A rule from its JSON (already decoded); ``RuleError`` naming the place if wrong."""
    count = [0]
    _check(condition, "rule", 0, count)
    return Rule(condition, any(FIELDS[t["field"]].timed for t in _tests(condition)))


def _check(condition: Any, where: str, depth: int, count: list[int]) -> None:
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_CONDITIONS:
        raise RuleError(f"{where}: a rule nests at most {MAX_DEPTH} deep and holds at most "
                        f"{MAX_CONDITIONS} conditions")
    if not isinstance(condition, dict):
        raise RuleError(f"{where}: a condition is an object ({{\"all\": [...]}}, "
                        f"{{\"field\": ..., \"eq\": ...}}), not {type(condition).__name__}")
    keys = set(condition)
    if keys in ({"all"}, {"any"}):
        (combine,) = keys
        parts = condition[combine]
        if not isinstance(parts, list):
            raise RuleError(f"{where}.{combine}: a list of conditions")
        for n, part in enumerate(parts):
            _check(part, f"{where}.{combine}[{n}]", depth + 1, count)
        return
    if keys == {"not"}:
        _check(condition["not"], f"{where}.not", depth + 1, count)
        return
    if "field" not in keys:
        raise RuleError(f"{where}: expected all, any, not or field; got {', '.join(sorted(keys))}")
    name = condition["field"]
    if not isinstance(name, str) or name not in FIELDS:  # a list or object is no name
        raise RuleError(f"{where}.field: no field {name!r}; known: {', '.join(FIELDS)}")
    operators = keys - {"field"}
    if len(operators) != 1 or not operators <= set(OPERATORS):
        raise RuleError(f"{where}: one operator of {', '.join(OPERATORS)} beside field; got "
                        f"{', '.join(sorted(operators)) or 'none'}")
    (operator,) = operators
    _check_value(FIELDS[name], operator, condition[operator], f"{where}.{operator}")


def _check_value(field: Field, operator: str, value: Any, where: str) -> None:
    if operator == "exists":
        if not isinstance(value, bool):
            raise RuleError(f"{where}: true or false")
        return
    values = value if operator in ("in", "not_in") else [value]
    if operator in ("in", "not_in") and not (isinstance(value, list) and value):
        raise RuleError(f"{where}: a non-empty list of values")
    if operator in _COMPARE and field.kind != "number":
        raise RuleError(f"{where}: {operator} compares numbers; the field holds {field.kind}")
    for each in values:
        if not _of_kind(field.kind, each):
            raise RuleError(f"{where}: {each!r} is not a {field.kind}")


def _of_kind(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _tests(condition: dict[str, Any]) -> list[dict[str, Any]]:
    if "all" in condition or "any" in condition:
        return [t for part in condition.get("all", condition.get("any", [])) for t in _tests(part)]
    if "not" in condition:
        return _tests(condition["not"])
    return [condition]


def _holds(condition: dict[str, Any], customer: Customer) -> bool:
    if "all" in condition:
        return all(_holds(c, customer) for c in condition["all"])
    if "any" in condition:
        return any(_holds(c, customer) for c in condition["any"])
    if "not" in condition:
        return not _holds(condition["not"], customer)
    value = customer.get(condition["field"])
    (operator,) = set(condition) - {"field"}
    expected = condition[operator]
    if operator == "exists":
        return (value is not None) is expected
    if operator == "ne":
        return value != expected
    if operator == "not_in":
        return value not in expected
    if value is None:
        return False
    if operator == "eq":
        return bool(value == expected)
    if operator == "in":
        return value in expected
    return _COMPARE[operator](value, expected)


_SAID = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of",
         "gt": "is above", "gte": "is at least", "lt": "is below", "lte": "is at most"}


def _words(test: dict[str, Any], customer: Customer) -> str:
    (operator,) = set(test) - {"field"}
    name, value = test["field"], customer.get(test["field"])
    has = "no value" if value is None else repr(value)
    if operator == "exists":
        return f"{name} {'has' if test['exists'] else 'has no'} value (it is {has})"
    return f"{name} {_SAID[operator]} {test[operator]!r} (it is {has})"


def customer_fields(document: Mapping[str, Any], now: datetime,
                    churn_risk: float | None) -> dict[str, Any]:
    """The rule fields of a customer from its 360 document (as the 360 projection stores
    it), as of ``now``; ``churn_risk`` as the latest model gives it (None: no model or no
    order)."""
    profile, orders, contacts = document["profile"], document["orders"], document["contacts"]
    complaints, loyalty = document["complaints"], document["loyalty"]
    fields = {
        "status": document["status"], "acquisition_channel": document["acquisition_channel"],
        "country": profile.get("country"), "profile.segment": profile.get("segment"),
        "language": profile.get("language"), "owner_id": (document["owner"] or {}).get("owner_id"),
        "loyalty.score": loyalty["score"], "loyalty.tier": loyalty["tier"],
        "churn.risk": churn_risk, "orders.count": orders["count"],
        "complaints.open": complaints["open"], "complaints.total": complaints["total"],
        "complaints.sla_breaches": complaints["sla_breaches"], "contacts.total": contacts["total"],
        "completeness": document["completeness"].get("share"),
        "days_since_last_order": _days_since(orders["last_order_time"], now),
        "days_since_last_contact": _days_since(contacts["last_time"], now),
        "flags.contact_fatigue": document["flags"]["contact_fatigue"],
        "flags.open_sla_breach": document["flags"]["open_sla_breach"],
    }
    consents = document["consents"]
    fields.update({f"consents.{channel}": consents.get(channel) for channel in CONSENT_CHANNELS})
    return fields


def _days_since(moment: str | None, now: datetime) -> int | None:
    return None if moment is None else (now - datetime.fromisoformat(moment)).days
