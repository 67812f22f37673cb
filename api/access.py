"""The API's door: a key in ``Authorization: Bearer`` or ``X-API-Key``, checked by the key
ring (``access/keys.py``), and the role each route needs. Missing or wrong keys get
401, a key without the role 403; neither ever gets data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from access.keys import Caller, Role

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer crm_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Or the key in X-API-Key.")


async def signed_in(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Caller:
    """A dependency that lets through any valid key, whatever its role (401 otherwise).

    Async, like ``check`` below, so that a request costs no thread hop before its
    endpoint: a key verified recently is answered from memory, and only a key the ring
    must look up goes to a worker thread (the lookup reads PostgreSQL)."""
    key = bearer.credentials if bearer else header
    if not key:
        raise HTTPException(401, "an API key is required (Authorization: Bearer crm_...)",
                            headers={"WWW-Authenticate": "Bearer"})
    keys = request.app.state.keys
    caller = keys.remembered(key)
    if caller is None:
        caller = await run_in_threadpool(keys.verify, key)
    if caller is None:
        raise HTTPException(401, "the API key is not valid (unknown, mistyped or revoked)",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


def requires(role: Role) -> Callable[..., Caller]:
    """A dependency that lets through callers whose key grants ``role``."""

    async def check(caller: Annotated[Caller, Depends(signed_in)]) -> Caller:
        if not caller.may(role):
            raise HTTPException(403, f"this needs the {role!r} role; the key has {caller.role!r}")
        return caller

    return check


Agent = Annotated[Caller, Depends(requires("agent"))]
Admin = Annotated[Caller, Depends(requires("admin"))]
Ingest = Annotated[Caller, Depends(requires("ingest"))]
SignedIn = Annotated[Caller, Depends(signed_in)]
