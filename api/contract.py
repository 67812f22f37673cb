"""The OpenAPI document as a contract: every status an operation can answer is listed,
and every error is described as the problem document it is (``api.problems``).

What holds for many operations at once is added here, from the document itself,
rather than repeated on each route:

* an operation with a security requirement (a key dependency, ``api.access``) answers
  401 for a missing or wrong key and 403 for a lesser role;
* one with parameters answers 400 for a control character in them (``api.edge``);
* one with a body answers 413 over the body limit (``api.edge``), and 422 when the
  body or a parameter does not validate;
* every 4xx answer is ``application/problem+json``.

``tests/contract`` runs schemathesis against the live API to hold the document to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.problems import MEDIA_TYPE, TYPES, EventsProblem, Problem, ValidationProblem, type_uri
from schemas.export import ingested_event
from schemas.registry import EVENT_TYPES
from schemas.text import SINGLE_LINE_PATTERN

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_VALIDATION = {"$ref": "#/components/schemas/ValidationProblem"}

#: What each shared answer says in the document.
_SHARED = {
    "400": "A path or query parameter holds a control character, or a parameter is "
           "unusable as given (`/problems/control-characters`, `/problems/bad-request`)",
    "401": "No API key, or one that is unknown, mistyped or revoked (`/problems/unauthorized`)",
    "403": "The key's role does not allow this operation (`/problems/forbidden`)",
    "413": "The body is over `CRM_API_MAX_BODY_BYTES` (`/problems/too-large`)",
    "422": "A parameter or the body does not validate; `errors` says where and why "
           "(`/problems/validation-error`)",
}


def _problem_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": schema}}


def _plain(parameter: dict[str, Any]) -> None:
    """A text parameter's schema says what ``api.edge.PlainParameters`` lets through."""
    schema = parameter.get("schema", {})
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string" and "pattern" not in option and "enum" not in option \
                and "format" not in option:
            option["pattern"] = SINGLE_LINE_PATTERN


def _complete(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", ()):
        _plain(parameter)
    responses = operation.setdefault("responses", {})
    shared: list[str] = []
    if operation.get("security"):
        shared += ["401", "403"]
    if operation.get("parameters"):
        shared += ["400", "422"]
    if operation.get("requestBody"):
        shared += ["413", "422"]
    for status in shared:
        responses.setdefault(status, {"description": _SHARED[status]})
    for status, answer in responses.items():
        if not status.startswith("4") and status != "500":
            continue
        schema = answer.get("content", {}).get(MEDIA_TYPE, {}).get("schema")
        if schema is None:  # FastAPI's own 422 (HTTPValidationError), or a bare description
            schema = _VALIDATION if status == "422" else _PROBLEM
        answer["content"] = _problem_content(schema)
        if status == "422" and answer.get("description") == "Validation Error":
            answer["description"] = _SHARED["422"]


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's shared answers and the problem schemas."""
    for methods in document.get("paths", {}).values():
        for operation in methods.values():
            _complete(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for model in (Problem, ValidationProblem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    schemas["Problem"]["properties"]["type"]["examples"] = [type_uri(n) for n in TYPES]
    _incoming_events(schemas)
    return document


def _add(schemas: dict[str, Any], found: dict[str, Any]) -> None:
    """Add ``found``; two different schemas of one name would silently describe one
    answer with another's shape."""
    for name, schema in found.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two schemas are called {name!r} in the OpenAPI document")


def _incoming_events(schemas: dict[str, Any]) -> None:
    """``IncomingEvent``: one of the CloudEvents of ``schemas/json/``, told apart by ``type``;
    ``EventsProblem``: a refused ``POST /events`` with its per-event answers."""
    mapping = {}
    for event_type in EVENT_TYPES:
        model = ingested_event(event_type)
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        _add(schemas, found.pop("$defs", {}))
        _add(schemas, {model.__name__: found})
        mapping[event_type] = f"#/components/schemas/{model.__name__}"
    schemas["IncomingEvent"] = {
        "description": "A CloudEvent of a type this service reads; `type` tells which.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping}}
    found = EventsProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(found.pop("$defs", {}))
    schemas["EventsProblem"] = found


def as_contract(api: FastAPI, extend: Callable[[dict[str, Any]], None] | None = None) -> None:
    """``api`` serves its document finished by ``finish`` (and ``extend``), made once."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = finish(generate())
            if extend is not None:
                extend(document)
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
