"""The HTTP edge's middlewares as plain ASGI: what reaches the application, and what never does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from api.edge import BodyLimit, PlainParameters, SecurityHeaders
from exports.cells import csv_cell

pytestmark = pytest.mark.unit

LIMIT = 1024


class Recorder:
    """An ASGI application that reads the whole body and notes what it got."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def request(app: Any, *, headers: list[tuple[bytes, bytes]], chunks: list[bytes] | None = None,
            path: str = "/events", query: bytes = b"") -> tuple[list[dict[str, Any]], int]:
    """Runs one request; ``chunks``: the body as the server would hand it on (None: the
    application must never ask for it). Returns what was sent and how many chunks were read."""
    pending = list(chunks or [])
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if chunks is None:
            raise AssertionError("the body was read")
        read += 1
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
             "query_string": query, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent, read


def status_and_detail(sent: list[dict[str, Any]]) -> tuple[int, str]:
    """The status and, for a refusal, the problem document's detail (checking it is one)."""
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    status = sent[0]["status"]
    if status == 200:
        return status, ""
    problem = json.loads(body)
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    assert problem["status"] == status and problem["type"] in (
        "/problems/too-large", "/problems/bad-request", "/problems/control-characters")
    assert problem["title"] and problem["instance"].startswith("/")
    return status, problem["detail"]


def test_a_declared_length_over_the_limit_is_413_unread_and_the_app_never_runs() -> None:
    app = Recorder()
    sent, _ = request(BodyLimit(app, LIMIT), headers=[(b"content-length", b"1000000000000")],
                      chunks=None)
    status, detail = status_and_detail(sent)
    assert status == 413 and not app.called
    assert "1,000,000,000,000 bytes" in detail and "1 KiB (1,024 bytes)" in detail
    assert "CRM_API_MAX_BODY_BYTES" in detail
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_chunked_body_is_counted_and_refused_once_over_without_reading_further() -> None:
    app = Recorder()
    chunks = [b"x" * 400] * 10  # 4,000 bytes in all; the limit is passed in the third
    sent, read = request(BodyLimit(app, LIMIT), headers=[(b"transfer-encoding", b"chunked")],
                         chunks=chunks)
    assert status_and_detail(sent)[0] == 413 and not app.called
    assert read == 3


def test_bodies_within_the_limit_reach_the_app_whole() -> None:
    app = Recorder()
    sent, _ = request(BodyLimit(app, LIMIT), headers=[(b"transfer-encoding", b"chunked")],
                      chunks=[b"a" * 512, b"b" * 512])
    assert status_and_detail(sent)[0] == 200 and app.body == b"a" * 512 + b"b" * 512
    app = Recorder()
    sent, _ = request(BodyLimit(app, LIMIT), headers=[(b"content-length", b"1024")],
                      chunks=[b"c" * 1024])
    assert status_and_detail(sent)[0] == 200 and app.body == b"c" * 1024


def test_a_content_length_that_is_no_number_is_400() -> None:
    app = Recorder()
    sent, _ = request(BodyLimit(app, LIMIT), headers=[(b"content-length", b"-1")], chunks=None)
    assert status_and_detail(sent)[0] == 400 and not app.called


@pytest.mark.parametrize(("path", "query", "named"), [
    ("/customers/C\x00", b"", "the path '/customers/C\\x00' contains U+0000 (NUL)"),
    ("/reports/x\x1b", b"", "U+001B (escape)"),
    ("/customers", b"q=a%00b", "query parameter 'q' contains U+0000 (NUL) at character 2"),
    ("/customers", b"q=a%0Ab", "U+000A (newline)"),
    ("/customers", b"q=ok&cursor=%1b", "query parameter 'cursor' contains U+001B (escape)"),
    ("/alerts", b"customer%00=1", "the query parameter name"),
])
def test_control_characters_in_paths_and_queries_are_400_naming_them(
    path: str, query: bytes, named: str,
) -> None:
    app = Recorder()
    # The server has decoded %XX in the path before routing; the query is decoded here.
    sent, _ = request(PlainParameters(app), headers=[], chunks=[b""], path=path, query=query)
    status, detail = status_and_detail(sent)
    assert status == 400 and not app.called
    assert named in detail and "control characters" in detail


def test_plain_parameters_pass() -> None:
    app = Recorder()
    sent, _ = request(PlainParameters(app), headers=[], chunks=[b""], path="/customers/shop/4711",
                      query=b"q=M%C3%BCller%20%25&cursor=AA%3D%3D")
    assert status_and_detail(sent)[0] == 200 and app.called


def test_every_answer_carries_the_security_headers_and_the_docs_their_own_policy() -> None:
    def headers_of(path: str) -> dict[str, str]:
        sent, _ = request(SecurityHeaders(Recorder(), frozenset({"/docs"})), headers=[],
                          chunks=[b""], path=path)
        return {k.decode(): v.decode() for k, v in sent[0]["headers"]}

    console = headers_of("/")
    assert console["content-security-policy"].startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in console["content-security-policy"]
    assert "unsafe-inline" not in console["content-security-policy"]
    assert console["x-content-type-options"] == "nosniff"
    assert console["referrer-policy"] == "no-referrer"
    docs = headers_of("/docs")["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs and "'unsafe-inline'" in docs
    assert "frame-ancestors 'none'" in docs


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\tTAB", "'\tTAB"),
    ("\rCR", "'\rCR"),
    ("search", "search"),
    ("a=b", "a=b"),
    ("-12.50", "-12.50"),  # an amount: a number to a spreadsheet, not a formula
    (-3, -3),
    (1.5, 1.5),
    (None, None),
    ({"0": 3}, '{"0": 3}'),
])
def test_csv_cells_a_spreadsheet_would_run_are_escaped(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell
