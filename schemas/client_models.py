"""Generating the Python client's event models and builders from the published JSON Schemas,
so the client (``client/``, for upstream teams) cannot drift from the wire contract.

    python -m schemas.client_models          # (re)write events.py and builders.py of
                                             # client/src/crm_timeline_client/
    python -m schemas.client_models --check  # exit 1 if they are stale

The input is ``schemas/json/`` (what ``python -m schemas.export`` writes from the
models): the envelope and every *ingested* type (the published ones are receivers'
business). Only the JSON Schema constructs the contract uses are understood; any other
keyword stops the generator, so a new kind of rule is noticed, never silently dropped.
Cross-field rules (``allOf``, each with its reason as ``description``) become
``crm_timeline_client.rules`` checks that refuse in the service's words. The reasons' wording for a
pattern comes from ``schemas.fields.PATTERN_HINTS``, as the service's reasons do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from schemas.fields import MONEY_PATTERN, PATTERN_HINTS

SCHEMA_DIR = Path(__file__).parent / "json"
TARGET_DIR = Path(__file__).parent.parent / "client" / "src" / "crm_timeline_client"

#: Annotation keywords: carried into ``Field(...)`` where they matter, otherwise ignored.
_ANNOTATIONS = {"title", "description", "examples", "default", "x-personal", "$schema", "$id"}
#: What each kind of schema may hold; anything else is a construct this generator lacks.
_KNOWN = {
    "string": {"type", "minLength", "maxLength", "pattern", "format", "const"},
    "integer": {"type", "minimum", "maximum"},
    "boolean": {"type"},
    "array": {"type", "items", "maxItems"},
    "object": {"type", "properties", "required", "additionalProperties", "allOf", "$defs"},
    "enum": {"type", "enum"},
}
#: Builder parameters that carry the envelope: no payload field may take these names.
_ENVELOPE_PARAMETERS = {"customer_id", "source", "event_id", "time", "extensions"}


class UnsupportedSchema(ValueError):
    """A JSON Schema construct the generator cannot turn into Python yet."""


def _check_known(schema: dict[str, Any], kind: str, where: str) -> None:
    unknown = set(schema) - _KNOWN[kind] - _ANNOTATIONS
    if unknown:
        raise UnsupportedSchema(f"{where}: cannot generate {sorted(unknown)} of a {kind} schema")


def ingested_schemas(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Event type -> the JSON Schema of its whole CloudEvent, for the types the service takes
    in: those whose ``source`` is not fixed (published types are the service's own)."""
    found = {}
    for path in sorted(directory.glob("crm.*.json")):
        schema = json.loads(path.read_text())
        if "const" in schema["properties"].get("source", {}):
            continue
        found[schema["properties"]["type"]["const"]] = schema
    return found


class _Module:
    """The generated module's text, built one definition at a time."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self.enums: list[str] = []
        self.models: list[str] = []
        self.hints: set[str] = set()
        self.defined: set[str] = set()  # enums and models written (or being written)
        self.taken: set[str] = set()  # models and enums the builders accept

    # definitions -------------------------------------------------------------------
    def add_defs(self, defs: dict[str, Any], where: str) -> None:
        for name, schema in defs.items():
            if name in self.defs and self.defs[name] != schema:
                raise UnsupportedSchema(f"{where}: $defs/{name} differs from another file's")
            self.defs[name] = schema

    def define(self, name: str) -> None:
        """Write the definition ``name`` (and first those it uses)."""
        if name in self.defined:
            return
        self.defined.add(name)
        schema = self.defs[name]
        if "enum" in schema:
            _check_known(schema, "enum", name)
            members = "\n".join(f"    {value} = {value!r}" for value in schema["enum"])
            self.enums.append(f"class {name}(StrEnum):\n{_docstring(schema)}\n{members}\n")
        else:
            self.models.append(self.model(name, schema, base="Payload"))

    # types -------------------------------------------------------------------------
    def annotation(self, schema: dict[str, Any], where: str) -> str:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/$defs/")
            self.define(name)
            return name
        if "anyOf" in schema:
            options = [o for o in schema["anyOf"] if o != {"type": "null"}]
            if len(options) != 1 or len(schema["anyOf"]) != 2:
                raise UnsupportedSchema(f"{where}: only 'X or null' unions are generated")
            return f"{self.annotation(options[0], where)} | None"
        kind = schema.get("type")
        if kind not in _KNOWN:
            raise UnsupportedSchema(f"{where}: cannot generate type {kind!r}")
        _check_known(schema, kind, where)
        if kind == "string":
            return self._string(schema, where)
        if kind == "integer":
            bounds = ", ".join(f"{py}={schema[js]}" for js, py in
                               (("minimum", "ge"), ("maximum", "le")) if js in schema)
            return f"Annotated[StrictInt, Field({bounds})]" if bounds else "StrictInt"
        if kind == "boolean":
            return "StrictBool"
        if kind == "array":
            return f"list[{self.annotation(schema['items'], where + '[]')}]"
        if schema.get("additionalProperties", True) is True and "properties" not in schema:
            return "dict[str, Any]"
        raise UnsupportedSchema(f"{where}: inline objects are not generated; use $defs")

    def _string(self, schema: dict[str, Any], where: str) -> str:
        if "const" in schema:
            return f"Literal[{schema['const']!r}]"
        if schema.get("format") == "date-time":
            return "Rfc3339"
        if "format" in schema:
            raise UnsupportedSchema(f"{where}: cannot generate format {schema['format']!r}")
        if schema.get("pattern") == MONEY_PATTERN:
            return "Money"
        constraints = [f"{py}={schema[js]!r}" for js, py in
                       (("minLength", "min_length"), ("maxLength", "max_length"),
                        ("pattern", "pattern")) if js in schema]
        if "pattern" in schema:
            self.hints.add(schema["pattern"])
        return f"Annotated[str, StringConstraints({', '.join(constraints)})]" if constraints \
            else "str"

    # models ------------------------------------------------------------------------
    def model(self, name: str, schema: dict[str, Any], base: str) -> str:
        _check_known(schema, "object", name)
        lines = [f"class {name}({base}):", _docstring(schema)]
        if schema.get("additionalProperties") is False:
            lines.append('    model_config = ConfigDict(extra="forbid", frozen=True)')
        rules = _rules(schema, name)
        if rules:
            lines.append(f"    rules: ClassVar[tuple[Rule, ...]] = ({', '.join(rules)},)")
        lines.append("")
        required = schema.get("required", [])
        for field, prop in _ordered(schema):
            if not field.isidentifier() or field.startswith("model_") or field == "rules":
                raise UnsupportedSchema(f"{name}.{field}: not a Python attribute name")
            lines.append(f"    {field}: {self.field(prop, field in required, f'{name}.{field}')}")
        return "\n".join(lines) + "\n"

    def field(self, prop: dict[str, Any], required: bool, where: str) -> str:
        annotation = self.annotation(prop, where)
        arguments = []
        if not required:
            default = prop.get("default", [] if prop.get("type") == "array" else ...)
            if default == []:  # pydantic writes no default for a default_factory
                arguments.append("default_factory=list")
            elif default is None:
                arguments.append("default=None")
            else:
                raise UnsupportedSchema(f"{where}: cannot generate the default {default!r}")
        if "maxItems" in prop:
            arguments.append(f"max_length={prop['maxItems']}")
        if "description" in prop and "$ref" not in prop:
            arguments.append(f"description={prop['description']!r}")
        if prop.get("x-personal"):
            arguments.append('json_schema_extra={"x-personal": True}')
        if not arguments:
            return annotation
        return f"{annotation} = Field({', '.join(arguments)})"


def _ordered(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Properties with the required ones first, in the order the schema lists them (the
    model's), then the others by name: pydantic reports problems in field order, and the
    service's reasons name the first three."""
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", ()) if name in properties]
    rest = sorted(set(properties) - set(required))
    return [(name, properties[name]) for name in [*required, *rest]]


def _docstring(schema: dict[str, Any]) -> str:
    text = schema.get("description", schema.get("title", "")).strip().replace('"""', "'''")
    first, *rest = text.splitlines() or [""]
    body = "\n".join(f"    {line}".rstrip() for line in rest)
    return f'    """{first}\n{body}\n    """' if rest else f'    """{first}"""'


def _rules(schema: dict[str, Any], where: str) -> list[str]:
    """Cross-field rules (the ``allOf`` of a model) as ``crm_timeline_client.rules`` checks;
    each rule's ``description`` is the service's reason, and the client's."""
    return [_rule(part, where) for part in schema.get("allOf", ())]


def _rule(part: dict[str, Any], where: str) -> str:
    reason = part.get("description")
    if not reason:
        raise UnsupportedSchema(f"{where}: a rule without a description (its reason)")
    if set(part) - {"description"} == {"if", "then"}:
        condition, consequence = part["if"], part["then"]
        if len(condition.get("required", ())) != 1 or len(consequence.get("required", ())) != 1:
            raise UnsupportedSchema(f"{where}: only 'if X is given then Y = value' is generated")
        (field,), (needs,) = condition["required"], consequence["required"]
        if condition["properties"][field] != {"not": {"type": "null"}}:
            raise UnsupportedSchema(f"{where}: 'if {field}' must mean 'given and not null'")
        value = consequence["properties"][needs]["const"]
        return f"OnlyWith({field!r}, {needs!r}, {value!r}, reason={reason!r})"
    if set(part) - {"description"} == {"anyOf"}:
        fields = []
        for option in part["anyOf"]:
            if set(option) - {"required", "properties"} or len(option.get("required", ())) != 1:
                raise UnsupportedSchema(f"{where}: only 'one of these fields given' is generated")
            fields.append(option["required"][0])
        return f"OneOf({tuple(fields)!r}, reason={reason!r})"
    if set(part) - {"description"} == {"minProperties"}:
        return f"MinFields({part['minProperties']}, reason={reason!r})"
    raise UnsupportedSchema(f"{where}: cannot generate the rule {sorted(part)}")


def _builder(event_type: str, model: str, schema: dict[str, Any], module: _Module) -> str:
    """``contact_logged(customer_id, *, source, channel, ...) -> CloudEvent``."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    clash = set(properties) & _ENVELOPE_PARAMETERS
    if clash:
        raise UnsupportedSchema(f"{event_type}: payload fields {sorted(clash)} clash with the "
                                "builders' envelope parameters")
    parameters = ["customer_id: str", "*", "source: str"]
    for field, _ in _ordered(schema):
        accepted = _accepted(properties[field], module)
        parameters.append(f"{field}: {accepted}" if field in required
                          else f"{field}: {accepted} | None = None")
    parameters += ["event_id: str | None = None", "time: datetime | str | None = None",
                   "extensions: Mapping[str, str | int | bool] | None = None"]
    function = event_type.removeprefix("crm.").replace(".", "_")
    signature = ",\n    ".join(parameters)
    data = ", ".join(f"{f!r}: {f}" for f in properties)
    doc = (schema.get("description") or model).strip().splitlines()[0]
    return (f"def {function}(\n    {signature},\n) -> CloudEvent:\n"
            f'    """{event_type}: {doc}"""\n'
            f"    return build_event({event_type!r}, customer_id, source=source, "
            f"event_id=event_id, time=time,\n"
            f"                       extensions=extensions, data={{{data}}})\n")


def _accepted(prop: dict[str, Any], module: _Module) -> str:
    """What a builder takes for a field: its model's type, or the plain values it converts."""
    if "anyOf" in prop:
        prop = next(o for o in prop["anyOf"] if o != {"type": "null"})
    if "$ref" in prop:
        name = prop["$ref"].removeprefix("#/$defs/")
        target = module.defs[name]
        module.taken.add(name)
        return f"{name} | str" if "enum" in target else f"{name} | Mapping[str, Any]"
    if prop.get("type") == "array":
        return f"Sequence[{_accepted(prop['items'], module)}]"
    if prop.get("type") == "integer":
        return "int"
    if prop.get("type") == "boolean":
        return "bool"
    if prop.get("format") == "date-time":
        return "datetime | str"
    if prop.get("pattern") == MONEY_PATTERN:
        return "Decimal | str"
    return "str"


_IMPORTS = """
# ruff: noqa: E501
from __future__ import annotations
"""
_MODELS_HEADER = '''"""Every CloudEvent type the service ingests: the envelope and each type's payload model.

GENERATED by ``python -m schemas.client_models`` from the service's ``schemas/json/``:
do not edit; a test fails when this file is stale.
"""
''' + _IMPORTS + """
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from crm_timeline_client.rules import MinFields, OneOf, OnlyWith, Rule
from crm_timeline_client.types import Envelope, Money, Payload, Rfc3339, StrictBool, StrictInt
"""
_BUILDERS_HEADER = '''"""One builder per ingested type: a CloudEvent validated as the service validates it,
with a fresh id and the current time unless given.

GENERATED by ``python -m schemas.client_models`` from the service's ``schemas/json/``:
do not edit; a test fails when this file is stale.
"""
''' + _IMPORTS + """
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from crm_timeline_client.building import build_event
"""


def render(directory: Path = SCHEMA_DIR) -> dict[str, str]:
    """File name -> text of the generated modules (``events.py``, ``builders.py``)."""
    module = _Module()
    schemas = ingested_schemas(directory)
    payloads: dict[str, str] = {}
    for event_type, schema in schemas.items():
        module.add_defs(schema.get("$defs", {}), event_type)
        payloads[event_type] = schema["properties"]["data"]["$ref"].removeprefix("#/$defs/")
    for name in payloads.values():
        module.define(name)
    envelope = module.model("CloudEvent", json.loads((directory / "cloudevent.json").read_text()),
                            base="Envelope")
    unhinted = module.hints - set(PATTERN_HINTS)
    if unhinted:
        raise UnsupportedSchema(f"patterns without a hint in schemas.fields: {sorted(unhinted)}")
    builders = [_builder(t, payloads[t], module.defs[payloads[t]], module) for t in schemas]
    registry = "\n".join(f"    {t!r}: {m}," for t, m in payloads.items())
    hints = "\n".join(f"    {p!r}: {PATTERN_HINTS[p]!r}," for p in sorted(module.hints))
    models = [_MODELS_HEADER, *module.enums, *module.models, envelope,
              f"#: Each ingested type's payload model.\nEVENT_TYPES: dict[str, type[Payload]] = {{\n{registry}\n}}\n",
              "#: What a pattern means, in the words of the service's reasons.\n"
              f"PATTERN_HINTS: dict[str, str] = {{\n{hints}\n}}\n"]
    names = sorted([*module.defined, "CloudEvent"])
    exports = "__all__ = [\n" + "".join(f"    {n!r},\n" for n in
                                          [*names, "EVENT_TYPES", "PATTERN_HINTS"]) + "]\n"
    functions = [event_type.removeprefix("crm.").replace(".", "_") for event_type in schemas]
    builder_exports = "__all__ = [\n" + "".join(f"    {n!r},\n" for n in functions) + "]\n"
    return {"events.py": _join([models[0] + "\n" + exports, *models[1:]]),
            "builders.py": _join([_BUILDERS_HEADER + _import_line(sorted(module.taken)) + "\n"
                                  + builder_exports, *builders])}


def _import_line(names: list[str]) -> str:
    """``from crm_timeline_client.events import (...)``: CloudEvent and the models builders take."""
    listed = "".join(f"    {name},\n" for name in sorted(["CloudEvent", *names]))
    return f"from crm_timeline_client.events import (\n{listed})\n"


def _join(parts: list[str]) -> str:
    return "\n\n".join(part.strip("\n") + "\n" for part in parts)


def stale_files(target: Path = TARGET_DIR, directory: Path = SCHEMA_DIR) -> list[str]:
    """The generated files that are missing or differ from what the schemas give now."""
    return [name for name, text in render(directory).items()
            if not (target / name).exists() or (target / name).read_text() != text]


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate the Python client's event models.")
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale {TARGET_DIR / name}")
        if stale:
            print("the client's generated modules drifted from schemas/json/: "
                  "run `python -m schemas.client_models`")
        return 1 if stale else 0
    for name, text in render().items():
        (TARGET_DIR / name).write_text(text)
        print(TARGET_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
