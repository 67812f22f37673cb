"""Every error as an RFC 9457 problem document (``api/problems.py``)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient

from api.problems import MEDIA_TYPE, TYPES, answer_problems

pytestmark = pytest.mark.unit


def app() -> FastAPI:
    api = FastAPI()
    answer_problems(api)

    @api.get("/customers/{customer_id}")
    def read(customer_id: str, limit: int = Query(10, le=50)) -> dict[str, str]:
        if customer_id == "gone":
            raise HTTPException(404, "no customer 'gone'")
        if customer_id == "unfit":
            raise HTTPException(422, "the erasure request would be refused")
        if customer_id == "boom":
            raise RuntimeError("password=hunter2 at db.internal:5432")
        return {"customer_id": customer_id}

    @api.post("/customers/{customer_id}")
    def write(customer_id: str) -> dict[str, str]:
        return {"customer_id": customer_id}

    return api


def test_an_http_error_is_a_problem_of_its_status() -> None:
    answer = TestClient(app()).get("/customers/gone")
    assert answer.status_code == 404 and answer.headers["content-type"] == MEDIA_TYPE
    assert answer.json() == {"type": "/problems/not-found", "title": TYPES["not-found"][1],
                             "status": 404, "detail": "no customer 'gone'",
                             "instance": "/customers/gone"}


def test_a_validation_error_keeps_its_field_errors_and_says_them_in_detail() -> None:
    answer = TestClient(app()).get("/customers/C-1", params={"limit": 99})
    problem = answer.json()
    assert answer.status_code == 422 and problem["type"] == "/problems/validation-error"
    assert [e["loc"] for e in problem["errors"]] == [["query", "limit"]]
    assert problem["detail"].startswith("query parameter limit: ")


def test_a_request_that_validated_but_cannot_be_carried_out_is_unprocessable() -> None:
    problem = TestClient(app()).get("/customers/unfit").json()
    assert (problem["type"], problem["status"]) == ("/problems/unprocessable", 422)
    assert "errors" not in problem


def test_an_unknown_path_and_a_wrong_method_are_problems_naming_every_allowed_method() -> None:
    client = TestClient(app())
    assert client.get("/nowhere").json()["type"] == "/problems/not-found"
    wrong = client.delete("/customers/C-1")
    assert wrong.status_code == 405 and wrong.json()["type"] == "/problems/method-not-allowed"
    assert wrong.headers["allow"] == "GET, POST"


def test_an_unexpected_failure_is_a_500_that_tells_nothing_of_the_insides() -> None:
    answer = TestClient(app(), raise_server_exceptions=False).get("/customers/boom")
    assert answer.status_code == 500 and answer.headers["content-type"] == MEDIA_TYPE
    assert answer.json()["type"] == "/problems/internal-error"
    assert "hunter2" not in answer.text and "RuntimeError" not in answer.text
