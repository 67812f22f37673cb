"""The segment rule language (``domain/segment_rules.py``) as JSON Schema, for the OpenAPI
document: a rule the schema allows is one ``parse_rule`` takes (within its limits of
nesting and size), so clients and fuzzers see the language, not an opaque object."""

from __future__ import annotations

from typing import Any

from domain.segment_rules import FIELDS, OPERATORS

_REF = "#/components/schemas/{}"
_VALUE = {"number": {"type": "number"}, "text": {"type": "string"}, "bool": {"type": "boolean"}}
_COMPARING = ("gt", "gte", "lt", "lte")


def _tests(kind: str) -> list[dict[str, Any]]:
    """One schema per operator a field of ``kind`` takes: ``{"field": ..., "<op>": value}``."""
    fields = sorted(name for name, field in FIELDS.items() if field.kind == kind)
    tests = []
    for operator in OPERATORS:
        if operator in _COMPARING and kind != "number":
            continue
        value: dict[str, Any] = _VALUE[kind]
        if operator in ("in", "not_in"):
            value = {"type": "array", "items": _VALUE[kind], "minItems": 1}
        elif operator == "exists":
            value = {"type": "boolean"}
        tests.append({"type": "object", "additionalProperties": False,
                      "required": ["field", operator],
                      "properties": {"field": {"enum": fields}, operator: value}})
    return tests


def condition_schemas() -> dict[str, dict[str, Any]]:
    """``SegmentCondition`` and its parts, for ``components.schemas``."""
    condition = {"$ref": _REF.format("SegmentCondition")}

    def combined(word: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": [word],
                "properties": {word: schema}}

    return {
        "SegmentCondition": {
            "description": "A condition: `all`, `any` or `not` of conditions, or a test of "
            "one field (`GET /segments/fields`) by one operator. At most 10 deep and 200 "
            "conditions in all.",
            "anyOf": [{"$ref": _REF.format(name)} for name in
                      ("SegmentAll", "SegmentAny", "SegmentNot", "SegmentTest")]},
        "SegmentAll": combined("all", {"type": "array", "items": condition}),
        "SegmentAny": combined("any", {"type": "array", "items": condition}),
        "SegmentNot": combined("not", condition),
        "SegmentTest": {"description": "`{\"field\": ..., \"<operator>\": value}`",
                        "anyOf": [t for kind in ("number", "text", "bool") for t in _tests(kind)]},
    }
