"""What every request meets before any route: the body limit, the character rules for
paths and query parameters, and the security headers on every answer.

They are ASGI middlewares, so they hold for every route at once (the static console
files and the OpenAPI pages included) and run before anything reads the body or
looks at the API key: a hostile request costs a header check, not a database round trip.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from schemas.text import printable, text_problem


async def _answer(send: Send, scope: Scope, name: str, detail: str, *, close: bool = False) -> None:
    """A problem document (``api.problems``) of type ``name``, as every other error is."""
    document = problems.problem(name, detail, instance=printable(scope.get("path", ""), 200))
    body = problems.body(document)
    status = document["status"]
    headers = [(b"content-type", problems.MEDIA_TYPE.encode()),
               (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is never read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _size(limit: int) -> str:
    """``1 MiB (1,048,576 bytes)``"""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit} ({limit:,} bytes)"
    return f"{limit:,} bytes"


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before any route runs.

    A declared ``Content-Length`` over the limit is answered at once, unread (the
    server reads no more than it declares). A body without one (chunked, or none
    at all) is read here, counting, at most ``max_bytes`` of it, and handed on
    whole; past the limit it is answered 413 without reading further. So a route, and the key
    check before it, never see a body over the limit, and no more than the limit
    is ever held in memory for a request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, what: str) -> str:
        return (f"the request body {what} is over the limit of {_size(self.max_bytes)}, "
                "set by CRM_API_MAX_BODY_BYTES; send events in several requests")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                await _answer(send, scope, "bad-request", f"Content-Length {printable(declared, 40)!r} is not a "
                              "number of bytes", close=True)
                return
            if int(declared) > self.max_bytes:
                await _answer(send, scope, "too-large", self._too_large(f"of {int(declared):,} bytes"), close=True)
                return
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, scope, "too-large", self._too_large("sent in chunks"), close=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: Message | None = {"type": "http.request", "body": b"".join(chunks),
                                   "more_body": False}

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()  # after the body: waits for the disconnect, as before

        await self.app(scope, replay, send)


class PlainParameters:
    """400 for a path or query parameter holding a control character or lone surrogate.

    PostgreSQL cannot store or compare text holding NUL (a query with one fails
    instead of finding nothing), and control characters have no place in an id,
    a search or a filter; ``schemas.text`` has the rules. Checked once here for
    every route, on the decoded path and each decoded query name and value.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem:
                await _answer(send, scope, "control-characters", problem + "; control characters are not allowed in "
                              "paths or query parameters")
                return
        await self.app(scope, receive, send)

    @staticmethod
    def problem(scope: Scope) -> str | None:
        path = scope.get("path", "")
        if found := text_problem(path):
            return f"the path '{printable(path, 100)}' {found}"
        if scope.get("query_string"):
            for name, value in QueryParams(scope["query_string"]).multi_items():
                if found := text_problem(name):
                    return f"the query parameter name '{printable(name, 40)}' {found}"
                if found := text_problem(value):
                    return f"query parameter '{printable(name, 40)}' {found}"
        return None


#: The console (``api/static``) loads only its own files: no inline script or style,
#: styles set from scripts through CSSOM (Chart.js sizes its canvas so), fetches to
#: this origin. It may not be framed, and forms and ``<base>`` cannot point elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
#: FastAPI's ``/docs`` (Swagger UI) and ``/redoc`` pages load their scripts and styles
#: from the jsDelivr CDN, ReDoc its fonts from Google Fonts and its search worker from a
#: blob, the favicon comes from fastapi.tiangolo.com, and both start with an inline
#: script (and ReDoc an inline style). Only these pages, which hold no data and fetch
#: only /openapi.json, get the CDN hosts and 'unsafe-inline'; the console never does.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Adds a Content-Security-Policy, ``X-Content-Type-Options: nosniff``,
    ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY`` (for browsers older
    than ``frame-ancestors``) to every answer, errors included."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_CONTENT_SECURITY_POLICY if scope.get("path") in self.docs_paths
                  else CONTENT_SECURITY_POLICY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
