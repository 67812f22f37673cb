"""Reports: list, read as JSON or CSV, and rebuild them from history (admin)."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from api.access import requires
from api.deps import ReadSide, read_side
from projections import replay
from projections.catalog import UnknownReadModel
from projections.reports.base import Doc

router = APIRouter(tags=["reports"], dependencies=[Depends(requires("agent"))])


@router.get("/reports")
def list_reports(side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Every report, and the rebuildable read models (``kind``), with its live generation,
    a rebuild in progress, how far it has read, and the running processes that serve it
    (``served_by``: API processes that read it, loops that follow it, each with the
    generation it uses; ``processes`` lists every running process and all it serves)."""
    shown = ("name", "kind", "title", "live_generation", "building_generation", "position",
             "store_position", "caught_up")
    running = side.catalog.serving.running()
    return {
        "reports": [{**{key: model[key] for key in shown},
                     "served_by": [{"process": p.process, "role": p.role,
                                    "generation": p.serves[model["name"]]}
                                   for p in running if model["name"] in p.serves]}
                    for model in side.catalog.describe() if model["rebuildable"]],
        "processes": [p.as_dict() for p in running],
    }


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Decimal strings (amounts) are numbers to a spreadsheet, not formulas: they stay as they are.
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell no spreadsheet runs: objects as JSON, and text that a
    spreadsheet would take for a formula (``=HYPERLINK(...)``, ``@SUM(...)``, ``-1+1``)
    behind a ``'``, which makes it text. Numbers, and strings that are only a number,
    stay as they are."""
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv(columns: tuple[str, ...], rows: list[Doc]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


@router.get("/reports/{name}", responses={200: {"content": {"text/csv": {}}}})
def read_report(
    name: str,
    request: Request,
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
    side: ReadSide = Depends(read_side),
) -> Any:
    """The live rows; CSV with `?format=csv` or `Accept: text/csv`."""
    catalog = side.catalog
    try:
        report = catalog.report(name)
    except UnknownReadModel as error:
        raise HTTPException(404, str(error)) from None
    rows = catalog.read(name)
    columns = report.columns
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(_csv(columns, rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return {"name": name, "title": report.title, "columns": list(columns),
            "rows": rows}


_rebuilds: dict[str, replay.Progress] = {}
_rebuilds_lock = threading.Lock()


@router.post("/admin/replay/{name}", status_code=202, dependencies=[Depends(requires("admin"))])
def start_replay(name: str, side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Rebuild a report from the first event in the background; it swaps in when caught up."""
    catalog = side.catalog
    catalog.discover()  # a report module deployed since the API started
    if name not in catalog.rebuildable:
        raise HTTPException(404, f"nothing to rebuild called {name!r}; known: "
                            f"{', '.join(catalog.rebuildable)}")
    with _rebuilds_lock:
        running = _rebuilds.get(name)
        if running is not None and running.state == "building":
            raise HTTPException(409, f"a rebuild of {name!r} is already running")
        progress = replay.Progress(name, generation=catalog.start_build(name))
        _rebuilds[name] = progress

    def run() -> None:
        try:
            replay.replay(catalog, name, on_progress=lambda p: progress.__dict__.update(p.__dict__))
        except Exception as error:  # reported through GET /admin/replay/{name}
            progress.state, progress.error = "failed", f"{type(error).__name__}: {error}"

    threading.Thread(target=run, name=f"replay-{name}", daemon=True).start()
    return progress.as_dict()


@router.get("/admin/replay/{name}", dependencies=[Depends(requires("admin"))])
def replay_progress(name: str) -> dict[str, Any]:
    progress = _rebuilds.get(name)
    if progress is None:
        raise HTTPException(404, f"no rebuild of {name!r} was started by this API process")
    return progress.as_dict()
