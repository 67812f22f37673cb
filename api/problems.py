"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers, from a route, a key check, request validation, the edge
middlewares or an unexpected failure, is one document: ``type`` (a stable URI a
client can switch on), ``title`` (the same words for every problem of that type),
``status``, ``detail`` (the sentence for this occurrence, which the console shows)
and ``instance`` (the path asked for). Validation problems keep their field errors in
``errors``; a refused ``POST /events`` keeps ``accepted`` and ``rejected``.

The ``type`` URIs are relative (``/problems/not-found``), resolved against the API's
own address; README's "Errors" lists them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from schemas.text import printable

MEDIA_TYPE = "application/problem+json"
BASE = "/problems/"

#: The problem types, by name: (HTTP status, title). A route's ``HTTPException`` gets the
#: type of its status (``BY_STATUS``); the edge and ``POST /events`` name theirs.
TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request cannot be read as sent"),
    "control-characters": (400, "A path or query parameter holds a control character"),
    "unauthorized": (401, "An API key is missing or not valid"),
    "forbidden": (403, "The API key's role or permissions do not allow this"),
    "not-found": (404, "Nothing found at this address"),
    "method-not-allowed": (405, "This address does not take this method"),
    "not-acceptable": (406, "No representation the client accepts"),
    "conflict": (409, "The request conflicts with the current state"),
    "too-large": (413, "The request is over a size limit"),
    "unsupported-media-type": (415, "The body's media type is not one this operation reads"),
    "validation-error": (422, "The request does not match the operation's parameters"),
    "unprocessable": (422, "The request is well-formed but cannot be carried out"),
    "invalid-events": (422, "No event in the request was valid"),
    "internal-error": (500, "The service failed to answer"),
    "unavailable": (503, "The service is not ready"),
}
#: The type of a route's ``HTTPException`` by its status (a 422 raised by a route: the
#: request validated, but cannot be carried out).
BY_STATUS = {**{status: name for name, (status, _) in reversed(TYPES.items())},
             422: "unprocessable"}


def type_uri(name: str) -> str:
    return BASE + name


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable URI of the kind of problem, e.g. "
                      "`/problems/not-found`; README lists them.", examples=["/problems/not-found"])
    title: str = Field(description="The kind of problem in words (the same for every "
                       "occurrence of its type).")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="This occurrence in words, for people.")
    instance: str | None = Field(None, description="The path of the request.")


class FieldError(BaseModel):
    """One parameter or body field that failed validation (FastAPI's shape)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    errors: list[FieldError] | None = Field(
        None, description="Every parameter or body field that failed, where and why (absent "
        "when the request validated but cannot be carried out).")


class EventsProblem(Problem):
    """A ``POST /events`` none of whose events was published: each one's reason."""

    accepted: list[str] | None = Field(None, description="Always empty here.")
    rejected: list[dict[str, Any]] | None = Field(
        None, description="`{index, id, reason}` per event refused.")


def problem(name: str, detail: str, *, instance: str | None = None, status: int | None = None,
            **extensions: Any) -> dict[str, Any]:
    """The problem document of type ``name`` (``status`` overrides its usual one)."""
    usual, title = TYPES[name]
    document: dict[str, Any] = {"type": type_uri(name), "title": title,
                                "status": status or usual, "detail": detail}
    if instance is not None:
        document["instance"] = instance
    document.update(extensions)
    return document


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()  # ASCII: a lone surrogate quoted cannot break it


def response(document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body(document), status_code=document["status"], media_type=MEDIA_TYPE,
                    headers=headers)


def _path(request: Request) -> str:
    return printable(request.url.path, 200)


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    name = BY_STATUS.get(error.status_code, "bad-request" if error.status_code < 500
                         else "internal-error")
    detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed(request))
    return response(problem(name, detail, instance=_path(request), status=error.status_code),
                    headers=headers or None)


def _allowed(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _where(loc: tuple[Any, ...]) -> str:
    kind = {"query": "query parameter", "path": "path parameter", "header": "header",
            "body": "body", "cookie": "cookie"}.get(str(loc[0]), str(loc[0])) if loc else "request"
    rest = ".".join(str(part) for part in loc[1:])
    return f"{kind} {rest}".strip() if rest else kind


def _invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = jsonable_encoder(error.errors())
    said = "; ".join(f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}"
                     for e in errors[:5])
    if len(errors) > 5:
        said += f"; and {len(errors) - 5} more"
    return response(problem("validation-error", said or "the request is not valid",
                            instance=_path(request), errors=errors))


def _failed(request: Request, error: Exception) -> Response:
    """A 500 that names nothing of the service's insides (Starlette raises the error on
    after this answer, so the server logs its traceback)."""
    return response(problem("internal-error", "the service failed to answer this request; "
                            "it has been logged", instance=_path(request)))


def answer_problems(api: FastAPI) -> None:
    """Every error of ``api`` as a problem document."""
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(Exception, _failed)
