"""Public endpoints: ``/healthz`` (the process answers) and the AsyncAPI document."""

import json
from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/asyncapi.json")
def asyncapi(request: Request) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the Kafka side (FastStream's), as OpenAPI is of HTTP."""
    return json.loads(request.app.state.asyncapi)
