"""The support agents' web console: one static page that talks to this same API.

The page itself (``/``) and its files (``/static``) are public: they hold no
data, and every call the page makes sends the agent's key like any other
client. ``GET /me`` lets the page check a key and learn its role at sign-in.
Console routes stay out of the OpenAPI document: they are not part of the API
that integrations program against.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.access import SignedIn

STATIC = Path(__file__).parent / "static"

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/", response_class=FileResponse)
def console_page() -> FileResponse:
    # no-cache: a new release of the console is picked up at the next page load.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/asyncapi", response_class=FileResponse)
def asyncapi_page() -> FileResponse:
    """The AsyncAPI document as a page for people: channels, messages, headers and payload
    schemas, drawn by ``static/asyncapi.js`` from ``/asyncapi.json`` (no CDN: the CSP
    allows only this origin)."""
    return FileResponse(STATIC / "asyncapi.html", headers={"Cache-Control": "no-cache"})


@router.get("/me")
def who_am_i(caller: SignedIn) -> dict[str, str]:
    """The name and role of the key sent; 401 for a missing or invalid key."""
    return {"name": caller.name, "role": caller.role}


def static_files() -> StaticFiles:
    """The console's scripts, styles and vendored libraries, mounted at ``/static``."""
    return StaticFiles(directory=STATIC)
